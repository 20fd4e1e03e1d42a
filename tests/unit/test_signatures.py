"""Webhook and channel signature checks, against the spec's test vector and the sandboxes' own signers."""

from __future__ import annotations

import pytest

from emulators.channel.app import sign as channel_sandbox_sign
from emulators.liveengage.webhooks import Signing
from adapters.generic import verify_signature as channel_verify
from gateways.liveengage import signature as le_signature

SECRET = "q8v2kd93hfa71mzx0p4ltr6e"
BODY = ('{"kind":"notification","body":{"changes":[{"sequence":4,"originatorId":"7f3c2a10-5b1e-5d2a-9c44-0e8b1f6a2d31",'
        '"originatorMetadata":{"id":"7f3c2a10-5b1e-5d2a-9c44-0e8b1f6a2d31","role":"ASSIGNED_AGENT"},'
        '"serverTimestamp":1717430401234,"event":{"type":"ContentEvent","message":"Hi Maria, how can I help?",'
        '"contentType":"text/plain"},"conversationId":"3c9e1f7a-2b4d-4e8f-9a61-5d2c7b0e4f18",'
        '"dialogId":"3c9e1f7a-2b4d-4e8f-9a61-5d2c7b0e4f18"}]},"type":"ms.MessagingEventNotification"}').encode()


def test_vector_body_is_the_documented_478_bytes() -> None:
    assert len(BODY) == 478


@pytest.mark.parametrize(("header", "encodings"), [
    ("sha1=01Fm9mVCzRl0Ktk/IR47CAjn+cI=", ("base64",)),
    ("sha256=WMQGAui3QGNdtQLbGFpW1sg3DeaVRLXrj+lqtXrtkWA=", ("base64",)),
    ("sha1=d35166f66542cd19742ad93f211e3b0808e7f9c2", ("base64", "hex")),
    ("sha256=58c40602e8b740635db502db185a56d6c8370de69544b5eb8fe96ab57aed9160", ("hex",)),
])
def test_liveengage_vectors_verify(header: str, encodings: tuple[str, ...]) -> None:
    assert le_signature.verify(BODY, header, SECRET, encodings)


def test_hex_is_refused_unless_configured() -> None:
    assert not le_signature.verify(BODY, "sha1=d35166f66542cd19742ad93f211e3b0808e7f9c2", SECRET, ("base64",))


@pytest.mark.parametrize("header", [None, "", "sha1", "md5=01Fm9mVCzRl0Ktk/IR47CAjn+cI=",
                                    "sha1=01Fm9mVCzRl0Ktk/IR47CAjn+cJ=", "sha1=ü", "sha1=" + "A" * 5000])
def test_liveengage_bad_headers_are_refused(header: str | None) -> None:
    assert not le_signature.verify(BODY, header, SECRET)


def test_one_flipped_body_byte_is_refused() -> None:
    flipped = BODY[:100] + bytes([BODY[100] ^ 1]) + BODY[101:]
    assert not le_signature.verify(flipped, "sha1=01Fm9mVCzRl0Ktk/IR47CAjn+cI=", SECRET)


@pytest.mark.parametrize("signing", [Signing("sha1", "base64"), Signing("sha256", "base64"),
                                     Signing("sha256", "hex")])
def test_sandbox_signatures_verify(signing: Signing) -> None:
    assert le_signature.verify(BODY, signing.header(SECRET, BODY), SECRET, ("base64", "hex"))


def test_channel_signature_round_trip() -> None:
    header = channel_sandbox_sign(BODY, "channel-secret")
    assert channel_verify(BODY, header, "channel-secret")
    assert channel_verify(BODY, header.upper().replace("SHA256", "sha256"), "channel-secret")
    assert not channel_verify(BODY, header, "other-secret")
    assert not channel_verify(BODY + b" ", header, "channel-secret")
    assert not channel_verify(BODY, header.replace("sha256", "sha1"), "channel-secret")
    assert not channel_verify(BODY, None, "channel-secret")


def test_during_a_rotation_the_webhook_bridge_names_which_secret_signed() -> None:
    from gateways.settings import LiveEngageApp

    app = LiveEngageApp(client_id="c", client_secret="new-secret-value", previous_client_secret="old-secret-value")
    assert app.all_secrets() == ["new-secret-value", "old-secret-value"]
    assert LiveEngageApp(client_id="c", client_secret="new-secret-value").all_secrets() == ["new-secret-value"]


def test_during_a_rotation_a_generic_channel_accepts_its_previous_secret() -> None:
    from adapters import bind
    from adapters.base import InboundRequest

    channel = {"adapter": "generic", "secret": "new-channel-secret", "previous_secret": "old-channel-secret",
               "outbound_url": "http://gateway.example/out", "outbound_token": "token-value"}
    binding = bind(channel)

    def request(secret: str) -> InboundRequest:
        return InboundRequest("http://bridge.example/v1/channels/c/messages",
                              {"x-channel-signature": channel_sandbox_sign(BODY, secret)}, BODY, 0, {})

    assert binding.adapter.signed_with(binding.config, request("new-channel-secret")) == "current"
    assert binding.adapter.signed_with(binding.config, request("old-channel-secret")) == "previous"
    assert binding.adapter.signed_with(binding.config, request("another-secret")) is None
    assert "old-channel-secret" in binding.secrets()  # kept out of the logs like the current one
    without = bind({k: v for k, v in channel.items() if k != "previous_secret"})
    assert without.adapter.signed_with(without.config, request("old-channel-secret")) is None
