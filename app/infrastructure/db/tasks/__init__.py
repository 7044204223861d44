"""The tasks context's storage: its tables, repositories, listing and unit of work."""
