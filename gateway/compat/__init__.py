"""Endpoints in the shapes of other SMS services (Twilio's Messages API, Kannel's
``sendsms``), so software written for them switches to the gateway by configuration.
They validate and answer in the foreign shape and submit through the same
``GatewayService.submit`` as ``/v1``."""
