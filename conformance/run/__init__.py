"""Running: the command line, the runner, worker processes and the plugin's recorder."""
