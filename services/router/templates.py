"""Draft templates: the operator's folder first, the built-in set (`config/templates`) behind it.

A channel's template is the first that exists of, for kind `<k>` (a status, or `holding`)
and severity `<s>`, in each folder of `channels/<channel id>/`, `sms/` (SMS-counted channels),
`<channel type>/`, `short/` or `long/` (the channel's style), and the top level:
`<k>.<s>.j2`, then `<k>.j2`. Files starting with `_` hold macros shared by the others.

The top level is in the default language (English); another language's templates sit in a
folder named after it (`fr/`, `nl/`) with the same layout, tried first for that language.
A language with no template of a kind falls back to the default language's, and the draft
says so (`template_language`).
"""

from pathlib import Path
from typing import Any

from babel.core import Locale, UnknownLocaleError
from babel.lists import format_list
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
    pass_context,
)
from jinja2.runtime import Context

from shared.contract.channels import ChannelConfig, ChannelType
from shared.contract.config_files import ConfigFileError
from shared.contract.events import IncidentStatus

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "config" / "templates"
"""The built-in set in a source checkout (an installed image has it under its CONFIG_DIR)."""

HOLDING = "holding"
DEFAULT_LANGUAGE = "en"
"""The language of the top-level templates, and what a missing translation falls back to."""
KINDS = (*(status.value for status in IncidentStatus), HOLDING)

_SHORT = {ChannelType.X, ChannelType.BLUESKY}
_LONG = {ChannelType.TELEGRAM, ChannelType.SLACK, ChannelType.WEBHOOK, ChannelType.STATUSPAGE}


def template_folders(templates_dir: Path, config_dir: Path) -> list[Path]:
    """The operator's folder, then wherever the built-in set is found; each folder once."""
    folders: list[Path] = []
    for folder in (templates_dir, BUILTIN_DIR, config_dir / "templates"):
        resolved = folder.resolve()
        if resolved.is_dir() and resolved not in folders:
            folders.append(resolved)
    return folders


def and_list(items: list[str], language: str = DEFAULT_LANGUAGE) -> str:
    """`["a", "b", "c"]` as "a, b and c" ("a, b et c" in French, by Babel; English without
    the serial comma); tags read as words (`east-coast` as "east coast")."""
    words = [str(item).replace("-", " ").replace("_", " ") for item in items]
    if len(words) < 2:
        return "".join(words)
    if language == DEFAULT_LANGUAGE:
        return ", ".join(words[:-1]) + " and " + words[-1]
    return format_list(words, locale=babel_locale(language))


def babel_locale(language: str) -> Locale:
    """Babel's locale for a language tag (`pt-BR`), English for one it does not know."""
    try:
        return Locale.parse(language, sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LANGUAGE)


@pass_context
def _and_list_in_language(context: Context, items: list[str]) -> str:
    language: Any = context.get("language", DEFAULT_LANGUAGE)
    return and_list(items, str(language))


def sentence(text: object) -> str:
    """`text` ending as a sentence does: a full stop is added unless it has one (or ! ? …)."""
    words = str(text).strip()
    return words if not words or words[-1] in ".!?\u2026" else words + "."


def build_environment(folders: list[Path]) -> Environment:
    """One Jinja environment over `folders` (earlier folders win), strict about names."""
    loader = ChoiceLoader([FileSystemLoader(folder) for folder in folders])
    env = Environment(
        loader=loader,
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # checked once at start; no stat() of every file per draft
    )
    env.filters["and_list"] = _and_list_in_language
    env.filters["sentence"] = sentence
    return env


def check_templates(env: Environment) -> None:
    """Parse every template in every folder and require the top-level ones for each kind.

    Raises ConfigFileError naming the file, so a broken template stops the router at start.
    """
    loader = env.loader
    loaders: list[BaseLoader] = list(loader.loaders) if isinstance(loader, ChoiceLoader) else []
    for folder_loader in loaders:
        for name in folder_loader.list_templates():
            if not name.endswith(".j2"):
                continue
            source, filename, _ = folder_loader.get_source(env, name)
            try:
                env.parse(source, name, filename)
            except TemplateSyntaxError as exc:
                raise ConfigFileError(
                    f"{filename}:{exc.lineno}: template does not parse: {exc.message}"
                ) from exc
    for kind in KINDS:
        try:
            env.get_template(f"{kind}.j2")
        except TemplateNotFound as exc:
            raise ConfigFileError(
                f"{kind}.j2: no such template in {describe_folders(env)}; "
                "it is the fallback for every channel"
            ) from exc
        except TemplateError as exc:  # a broken macro file it imports
            raise ConfigFileError(f"{kind}.j2: {exc}") from exc


def describe_folders(env: Environment) -> str:
    loader = env.loader
    if not isinstance(loader, ChoiceLoader):
        return "the template folders"
    folders = [
        str(path)
        for folder_loader in loader.loaders
        if isinstance(folder_loader, FileSystemLoader)
        for path in folder_loader.searchpath
    ]
    return ", ".join(folders) or "no template folder"


def style_of(channel: ChannelConfig) -> str | None:
    """`short` for X, Bluesky and SMS; `long` for chat, webhooks and the status page."""
    if channel.counting == "sms" or channel.type in _SHORT:
        return "short"
    return "long" if channel.type in _LONG else None


def candidates(
    kind: str, severity: str, channel: ChannelConfig, language: str = DEFAULT_LANGUAGE
) -> list[str]:
    """Template names to try, most specific first (see the module's docstring): the
    language's own folder first, then the default language's."""
    names = _candidates_in(kind, severity, channel)
    if language == DEFAULT_LANGUAGE:
        return names
    return [f"{language}/{name}" for name in names] + names


def language_of(template_name: str | None, language: str) -> str:
    """The language a chosen template is written in: `language` if it came from that
    language's folder, else the default language (a fallback)."""
    if language != DEFAULT_LANGUAGE and (template_name or "").startswith(f"{language}/"):
        return language
    return DEFAULT_LANGUAGE


def _candidates_in(kind: str, severity: str, channel: ChannelConfig) -> list[str]:
    folders = [f"channels/{channel.id}/"]
    if channel.counting == "sms":
        folders.append("sms/")
    folders.append(f"{channel.type.value}/")
    style = style_of(channel)
    if style is not None:
        folders.append(f"{style}/")
    folders.append("")
    return [
        f"{folder}{name}" for folder in folders for name in (f"{kind}.{severity}.j2", f"{kind}.j2")
    ]


def reads_variable(env: Environment, name: str | None, variable: str) -> bool:
    """Whether the template `name`, or one it includes, reads `variable` (a name that can't
    be told statically, or a template without source, counts as yes)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current is None or env.loader is None:
            return True
        if current in seen:
            continue
        seen.add(current)
        source, _, _ = env.loader.get_source(env, current)
        parsed = env.parse(source)
        if variable in meta.find_undeclared_variables(parsed):
            return True
        todo.extend(meta.find_referenced_templates(parsed))
    return False
