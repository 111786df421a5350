"""Job state change events: the EventBridge shape, the `GET /events` stream, webhooks and `batchd events`."""
