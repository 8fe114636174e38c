"""ConfigMaps and Secrets (`pkg/registry/core/configmap/strategy.go`,
`pkg/registry/core/secret/strategy.go`): no status; a Secret's `stringData` is folded into
`data` before validation and never stored; `data`/`binaryData` that is not base64 is refused as
the decoder refuses it (400). The key, size, type and immutability rules are the pure ones of
`probelab.k8s.configdata`, run by validation."""

from __future__ import annotations

from probelab.engine.apiserver.registry.strategy import Env, Strategy
from probelab.engine.apiserver.status import bad_request
from probelab.k8s import configdata
from probelab.k8s.objects import Obj


def _decodable(obj: Obj) -> Obj:
    wrong = configdata.base64_errors(obj)
    if wrong:
        kind = obj.get("kind", "")
        raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: '
                          + "; ".join(wrong))
    return obj


class ConfigMapStrategy(Strategy):
    def prepare_for_create(self, env: Env, obj: Obj) -> Obj:
        return _decodable(obj)

    def prepare_for_update(self, env: Env, new: Obj, old: Obj) -> Obj:
        return _decodable(new)


class SecretStrategy(Strategy):
    def prepare_for_create(self, env: Env, obj: Obj) -> Obj:
        configdata.merge_string_data(obj)
        return _decodable(obj)

    def prepare_for_update(self, env: Env, new: Obj, old: Obj) -> Obj:
        configdata.merge_string_data(new)
        return _decodable(new)
