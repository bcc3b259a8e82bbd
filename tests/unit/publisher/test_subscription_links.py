"""The links in subscribers' mail: a token opens only its own subscription and purpose, and
any other text (non-ASCII too: the fuzz test found a 500) is a plain refusal."""

import pytest

from services.publisher.subscriptions import check_token, link_token
from shared.contract.errors import NotFound


def test_a_token_opens_its_subscription_and_purpose_only() -> None:
    token = link_token("secret", "confirm", "sub_1")
    check_token("secret", "confirm", "sub_1", token=token)
    for purpose, subscriber, given in (
        ("unsubscribe", "sub_1", token),
        ("confirm", "sub_2", token),
        ("confirm", "sub_1", "é" * 24),
    ):
        with pytest.raises(NotFound):
            check_token("secret", purpose, subscriber, token=given)
