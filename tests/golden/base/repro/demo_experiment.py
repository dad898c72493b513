"""A stand-in experiment so predictions can name one."""
