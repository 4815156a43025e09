"""Fault injection: real worker processes, a real PostgreSQL server, real faults."""
