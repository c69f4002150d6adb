"""AWS wire protocols the services share: JSON (X-Amz-Target) and REST-XML."""
