"""Helpers of the tests: data factories, in-process and served APIs, log rows, servers
(PostgreSQL, the API as a process), feature-store repositories, and the checkers that the
tests share. Imported as `helpers.<module>` (tests/ is on the path); nothing else under
tests/ is imported as a package."""
