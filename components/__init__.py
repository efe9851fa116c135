"""ecs-delivery components: one ComponentResource per module, composed by `__main__.py`."""
