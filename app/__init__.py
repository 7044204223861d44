"""A Litestar service template on an onion architecture: domain, application, infrastructure, interfaces."""
