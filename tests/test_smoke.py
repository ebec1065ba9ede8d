from tests.conftest import base_config, chat


async def test_nonstream_roundtrip(upstream, start_gateway):
    gw = await start_gateway(base_config(upstream))
    reply = await gw.client().chat.completions.create(**chat())
    assert reply.choices[0].message.content == "Hello from the fake upstream!"
    assert reply.usage.total_tokens == 18
