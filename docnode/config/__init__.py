"""The node's configuration: one TOML file -> frozen, typed :class:`Settings` (DESIGN §9).

Rules (pyHanko's ``ConfigurableMixin.from_config``, STYLE §10):

1. The section and key names of DESIGN §9 are a contract: keys are added, never renamed.
2. Every problem is collected; loading fails once, with :class:`~docnode.errors.ConfigInvalid`
   holding one message per problem, each ``"[section] key: what is wrong"``. Unknown sections
   and keys are problems (a typo must not silently fall back to a default).
3. Relative paths resolve against the folder of the config file, never the working folder.
4. Secrets never sit in the file: a key passphrase, the axis secret, a password inside a
   store or broker URL are refused. They come from an environment variable (``*_env``) or a
   file (``*_file``). Connection URLs given by ``url_env``/``amqp_url_env`` are read at load
   time (nearly every command needs the store); the key passphrase and the axis secret are
   read only by the commands that use them (:meth:`IdentitySettings.read_passphrase`,
   :meth:`AxisSettings.read_secret`), so they never live in a ``Settings`` value.
5. ``load_config`` checks shape and types; it opens key and trust files only when asked
   (``check_files=True``, as ``run`` and ``doctor`` do), so that ``status`` or ``inbox`` work
   on a host without the key material.

Layout: :mod:`.settings` (the frozen values), :mod:`.load` (reading and validation),
private ``_reader`` (typed table access) and ``_toml_writer`` (``docnode init`` output).
"""

from __future__ import annotations

from docnode.config.load import (
    CONFIG_ENV,
    DEFAULT_CONFIG_NAME,
    load_config,
    render_config,
    resolve_config_path,
    validate_config_data,
    write_config,
)
from docnode.config.settings import (
    AxisAgencySettings,
    AxisSettings,
    AxisSystemSettings,
    BlobBackend,
    DeliverySettings,
    HostPort,
    IdentitySettings,
    LimitsSettings,
    ListenSettings,
    LogFormat,
    LoggingSettings,
    LogLevel,
    NodeSettings,
    PeerSettings,
    QueueBackend,
    QueueSettings,
    RevocationMode,
    Role,
    Settings,
    SignaturePolicyMode,
    SqliteSynchronous,
    StoreSettings,
    TrustSettings,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "AxisAgencySettings",
    "AxisSettings",
    "AxisSystemSettings",
    "BlobBackend",
    "DeliverySettings",
    "HostPort",
    "IdentitySettings",
    "LimitsSettings",
    "ListenSettings",
    "LogFormat",
    "LogLevel",
    "LoggingSettings",
    "NodeSettings",
    "PeerSettings",
    "QueueBackend",
    "QueueSettings",
    "RevocationMode",
    "Role",
    "Settings",
    "SignaturePolicyMode",
    "SqliteSynchronous",
    "StoreSettings",
    "TrustSettings",
    "load_config",
    "render_config",
    "resolve_config_path",
    "validate_config_data",
    "write_config",
]
