"""The appservice registration the homeserver needs to know porch, generated from the config.

See https://spec.matrix.org/v1.13/application-service-api/#registration
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from bridges.matrix.matrix_config import MatrixConfig


def registration(config: MatrixConfig) -> dict[str, Any]:
    """The registration as a mapping.

    - Both user namespaces are exclusive and anchored at both ends (Synapse only anchors the
      start), so ``@forum_alice:example.org.evil`` is not porch's.
    - ``rate_limited: false``: Synapse would otherwise rate-limit every ghost.
    - The url has no trailing slash: Synapse appends ``/_matrix/app/v1/...`` to it as is.
    """
    appservice = config.appservice
    if appservice is None:
        raise ValueError("matrix.appservice: a registration needs this section")
    server = re.escape(config.server_name)
    return {
        "id": appservice.id,
        "url": str(appservice.url).rstrip("/"),
        "as_token": appservice.as_token.get_secret_value(),
        "hs_token": appservice.hs_token.get_secret_value(),
        "sender_localpart": appservice.bot_localpart,
        "rate_limited": False,
        "receive_ephemeral": False,
        "namespaces": {
            "users": [
                {"exclusive": True, "regex": config.ghost_regex()},
                {"exclusive": True, "regex": f"^@{re.escape(appservice.bot_localpart)}:{server}$"},
            ],
            "aliases": [
                {"exclusive": True, "regex": f"^#{re.escape(appservice.ghost_prefix)}.*:{server}$"}
            ],
            "rooms": [],
        },
    }


def registration_yaml(config: MatrixConfig) -> str:
    """The registration as YAML, with a header saying how to install it."""
    data = registration(config)
    header = (
        f"# Porch's application-service registration for {config.server_name}.\n"
        "# It holds porch's tokens: keep it readable by the homeserver only.\n"
        "# Save it next to the homeserver config (e.g. /etc/synapse/porch-registration.yaml),\n"
        "# list it in homeserver.yaml and restart the homeserver:\n"
        "#\n"
        "#   app_service_config_files:\n"
        "#     - /etc/synapse/porch-registration.yaml\n"
        "#\n"
        "# Regenerate it with `porch registration -c porch.yaml` whenever the matrix section of\n"
        "# porch's config changes.\n"
    )
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return header + body
