"""Payment transactions on a placed order: capture, void, refund, authorization, sale."""
