"""Monica request bodies (upstreams.md §1.3 to §1.6): cookie, model table, the items chain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from proxy.request import image_urls, text_of

# OpenAI name -> Monica bot_uid (normal mode), upstreams.md §1.6.
MODEL_TABLE: dict[str, str] = {
    "gpt-5": "gpt_5",
    "gpt-4o": "gpt_4_o_chat",
    "gpt-4o-mini": "gpt_4_o_mini_chat",
    "gpt-4.1": "gpt_4_1",
    "gpt-4.1-mini": "gpt_4_1_mini",
    "gpt-4.1-nano": "gpt_4_1_nano",
    "gpt-4-5": "gpt_4_5_chat",
    "o3": "o3",
    "o3-mini": "openai_o_3_mini",
    "o4-mini": "o4_mini",
    "claude-haiku-4-5": "claude_4_5_haiku",
    "claude-sonnet-4-5": "claude_4_5_sonnet",
    "claude-4-sonnet": "claude_4_sonnet",
    "claude-4-sonnet-thinking": "claude_4_sonnet_think",
    "claude-4-opus": "claude_4_opus",
    "claude-4-opus-thinking": "claude_4_opus_think",
    "claude-opus-4-1-20250805-thinking": "claude_4_1_opus_think",
    "claude-3-7-sonnet-thinking": "claude_3_7_sonnet_think",
    "claude-3-7-sonnet": "claude_3_7_sonnet",
    "claude-3-5-haiku": "claude_3.5_haiku",
    "gemini-3-pro-preview-thinking": "gemini_3_pro_preview_think",
    "gemini-2.5-pro": "gemini_2_5_pro",
    "gemini-2.5-flash": "gemini_2_5_flash",
    "gemini-2.0-flash": "gemini_2_0",
    "deepseek-v3.1": "deepseek_v3_1",
    "deepseek-reasoner": "deepseek_reasoner",
    "deepseek-chat": "deepseek_chat",
    "deepclaude": "deepclaude",
    "sonar": "sonar",
    "sonar-reasoning-pro": "sonar_reasoning_pro",
    "grok-3-beta": "grok_3_beta",
    "grok-4": "grok_4",
    "grok-code-fast-1": "grok_code_fast_1",
}

# `use_model` overrides that apply only in Custom Bot Mode (§1.4).
CUSTOM_BOT_MODELS = {"grok-4": "grok-4-0709", "gemini-2.5-pro": "gemini-2.5-pro-thinking"}

WELCOME = "__RENDER_BOT_WELCOME_MSG__"
SYSTEM_ROLES = ("system", "developer")
PREAMBLE_OPEN = "[System instructions for this conversation]"
PREAMBLE_CLOSE = "[End of system instructions]"


@dataclass
class Turn:
    """One OpenAI message as a Monica item: `question` or `reply`, text, images."""

    item_type: str
    text: str
    images: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)  # file_infos once uploaded


def system_prompt(messages: list[dict[str, Any]]) -> str:
    """Every system (and developer) message's text, joined: nothing is dropped."""
    return "\n\n".join(text_of(m) for m in messages if m.get("role") in SYSTEM_ROLES and text_of(m))


def turns_of(messages: list[dict[str, Any]], *, fold_system: bool) -> list[Turn]:
    """The non-system messages in order; with `fold_system`, the system prompt prefixes
    the first user turn as a marked preamble (normal mode has no system prompt)."""
    turns = [
        Turn("reply" if m.get("role") == "assistant" else "question", text_of(m), image_urls(m))
        for m in messages
        if m.get("role") not in SYSTEM_ROLES
    ]
    prompt = system_prompt(messages) if fold_system else ""
    if prompt:
        preamble = f"{PREAMBLE_OPEN}\n{prompt}\n{PREAMBLE_CLOSE}"
        first = next((t for t in turns if t.item_type == "question"), None)
        if first is None:
            turns.append(Turn("question", preamble))
        else:
            first.text = f"{preamble}\n\n{first.text}" if first.text else preamble
    return turns


def items(turns: list[Turn], conversation_id: str, *, incognito: bool) -> list[dict[str, Any]]:
    """The welcome item, then one item per turn, each linked to the one before (§1.5)."""
    chain: list[dict[str, Any]] = [
        {
            "conversation_id": conversation_id,
            "item_id": _msg_id(),
            "item_type": "reply",
            "data": {"type": "text", "content": WELCOME},
        }
    ]
    for turn in turns:
        data: dict[str, Any] = {"type": "file_with_text" if turn.files else "text", "content": turn.text}
        if incognito:
            data["is_incognito"] = True
        if turn.files:
            data["file_infos"] = turn.files
        chain.append(
            {
                "conversation_id": conversation_id,
                "item_id": _msg_id(),
                "parent_item_id": chain[-1]["item_id"],
                "item_type": turn.item_type,
                "data": data,
            }
        )
    return chain


def chat_body(bot_uid: str, use_model: str, turns: list[Turn]) -> dict[str, Any]:
    """Normal mode, `/api/custom_bot/chat` (§1.3)."""
    conversation_id = "conv:" + str(uuid.uuid4())
    chain = items(turns, conversation_id, incognito=True)
    data: dict[str, Any] = {
        "conversation_id": conversation_id,
        "pre_parent_item_id": chain[-1]["item_id"],
        "items": chain,
        "trigger_by": "auto",
        "use_model": use_model,
        "is_incognito": True,
        "use_new_memory": False,
    }
    if not use_model:
        del data["use_model"]
    return {
        "task_uid": "task:" + str(uuid.uuid4()),
        "bot_uid": bot_uid,
        "data": data,
        "language": "auto",
        "task_type": "chat",
        "tool_data": {"sys_skill_list": None},
    }


def custom_bot_body(bot_uid: str, model: str, prompt: str, turns: list[Turn]) -> dict[str, Any]:
    """Custom Bot Mode, `/api/custom_bot/preview_chat` (§1.4): the system prompt is the bot's."""
    use_model = CUSTOM_BOT_MODELS.get(model, model)
    conversation_id = "conv:" + str(uuid.uuid4())
    chain = items(turns, conversation_id, incognito=False)
    return {
        "task_uid": "task:" + str(uuid.uuid4()),
        "bot_uid": bot_uid,
        "data": {
            "conversation_id": conversation_id,
            "items": chain,
            "pre_generated_reply_id": _msg_id(),
            "pre_parent_item_id": chain[-1]["item_id"],
            "origin": f"https://monica.im/bots/{bot_uid}",
            "origin_page_title": "Monica Bot Test",
            "trigger_by": "auto",
            "use_model": use_model,
            "is_incognito": False,
            "use_new_memory": True,
            "use_memory_suggestion": True,
        },
        "language": "auto",
        "locale": "zh_CN",
        "task_type": "chat",
        "ai_resp_language": "Chinese (Simplified)",
        "bot_data": {
            "description": "Test Bot",
            "name": "Test Bot",
            "logo_url": "https://assets.monica.im/assets/img/default_bot_icon.jpg",
            "classification": "custom",
            "prompt": prompt,
            "type": "custom_bot",
            "uid": bot_uid,
            "example_list": [],
            "tool_data": {
                "knowledge_list": [],
                "user_skill_list": [],
                "sys_skill_list": [],
                "use_model": use_model,
                "schedule_task_list": [],
            },
        },
    }


def _msg_id() -> str:
    return "msg:" + str(uuid.uuid4())
