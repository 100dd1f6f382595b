"""Infrastructure as code for AWS; also the single source for local provisioning."""
