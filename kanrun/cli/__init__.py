"""The `kanrun` command: a dispatcher over subcommands (train, resume, ...)."""
