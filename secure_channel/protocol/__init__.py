"""The pump protocol on top: schema, messages, CoAP resources, roles, dispatch."""
