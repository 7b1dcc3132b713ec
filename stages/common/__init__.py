"""Pieces shared by every stage and study: parameters, atomic I/O, runtime pinning, schedules, tables, verdicts."""
