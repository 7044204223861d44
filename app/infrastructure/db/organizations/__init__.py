"""The tenancy's storage: organizations, memberships and invitations."""
