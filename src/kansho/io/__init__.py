"""Readers and writers. Every reader raises :class:`kansho.errors.InputError` naming the file."""
