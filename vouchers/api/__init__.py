"""REST API v1: thin views over the same services and selectors the web app uses."""
