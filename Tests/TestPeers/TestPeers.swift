// Launchers for the real servers Salvo's tests talk to, always bound to 127.0.0.1.
