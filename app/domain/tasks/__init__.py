"""The tasks context: work items of one organization, the service's second domain."""
