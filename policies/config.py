"""The ``policies:`` config section: named crossing policies referenced by links."""

from __future__ import annotations

from typing import Any

#: Named policies. Their rule schema arrives with the access-policy work; until then a
#: policy is a named mapping that links may reference, and unknown names are refused.
PoliciesConfig = dict[str, dict[str, Any]]
