"""More front doors (Telegram, voice): thin, each one parses its protocol and calls the service layer."""
