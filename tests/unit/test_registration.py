"""The webhook registration's installation document and its printout."""

from __future__ import annotations

from streams.registration import EVENT_TYPES, describe, webhooks_config


def test_one_endpoint_per_event_type_with_the_retry_policy() -> None:
    config = webhooks_config("https://bridge.example/v1/liveengage/webhooks", 3, 86400)
    assert set(config) == {*EVENT_TYPES, "retry"}
    assert config["retry"] == {"retention_time": 86400}
    assert all(config[key] == {"endpoint": "https://bridge.example/v1/liveengage/webhooks", "max_retries": 3,
                               "headers": []} for key in EVENT_TYPES)


def test_number_based_retries_only_when_no_retention() -> None:
    assert "retry" not in webhooks_config("https://b.example/hooks", 0, None)


def test_describe_lists_what_is_registered() -> None:
    shown = describe({"74839201": webhooks_config("https://b.example/hooks", 2, None)})
    assert shown.splitlines()[0] == "account 74839201: number-based retries"
    assert all(key in shown for key in EVENT_TYPES) and "(max_retries 2)" in shown
    assert describe({}) == "no account has an admin_token: nothing registered"
