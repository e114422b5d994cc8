"""Load balancing: target groups kept in step with a service's tasks and their dynamic host ports."""
