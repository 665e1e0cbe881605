"""Twilio Voice: the ``voice.twilio`` adapter, its TwiML and payloads, webhooks and simulator
(what it shares with Messaging is in the package's own modules)."""
