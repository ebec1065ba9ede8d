"""Tool calling for providers that cannot call tools natively (issue 11).

`spec` reads and checks what the client offered, `prompt` turns tools and the tool
history into the text contract the model is told about, `parser` turns the model's
`<tool_call>` blocks back into tool calls, and `emulated` wraps a provider with both.
"""
