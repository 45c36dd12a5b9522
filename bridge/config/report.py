"""`tuiclient config check`'s report of a loaded config; it shows no password, ever."""

from __future__ import annotations

from collections.abc import Iterator

from .reader import format_duration
from .schema import SERVICES, AccountConfig, Config
from .secrets import auth_mechanism, password_source


def _describe_account(account: AccountConfig) -> Iterator[str]:
    title = f"account {account.name}"
    if account.display_name:
        title += f" ({account.display_name})"
    yield title
    if account.email:
        yield f"  email: {account.email}"
    if account.jid:
        yield f"  jid:   {account.jid}"
    for service in SERVICES:
        server = account.server(service)
        if server is None:
            continue
        tls = server.tls + (" (unencrypted)" if server.tls == "plain" else "")
        ca = str(server.ca_file) if server.ca_file else "system trust store"
        yield f"  {service}: {server.host}:{server.port}, {tls}, CA {ca}"
        if server.username:
            yield f"    login:    {server.username}"
        if auth_mechanism(account, service) == "password":
            yield f"    password: {password_source(account, service)}"
        else:
            yield f"    auth:     {password_source(account, service)}"
            yield f"              (run again once if the server refuses the token; "\
                f"{format_duration(account.token_timeout)} timeout)"


def describe(config: Config) -> str:
    """The report of `tuiclient config check`. Shows no password, ever."""
    lines = [f"config file: {config.path}"]
    if config.ca_file:
        lines.append(f"default CA file: {config.ca_file}")
    lines.append("")
    if config.accounts:
        for account in config.accounts:
            lines.extend(_describe_account(account))
            lines.append("")
    else:
        lines.extend(["no accounts", ""])
    if config.contacts:
        lines.append(f"contacts ({len(config.contacts)}):")
        for contact in config.contacts:
            addresses = [f"email {e}" for e in contact.emails] + [f"jid {j}" for j in contact.jids]
            lines.append(f"  {contact.name}: {', '.join(addresses)}")
    else:
        lines.append("contacts: none")
    if config.domain_rules:
        lines.append(f"domain rules ({len(config.domain_rules)}):")
        lines.extend(f"  {r.email_pattern} -> {r.jid_template}" for r in config.domain_rules)
    else:
        lines.append("domain rules: none")
    d = config.deferral
    lines += [
        "",
        "deferral:",
        (
            f"  first retry after {format_duration(d.first_retry)}, each wait x{d.growth:g}, "
            f"at most {format_duration(d.ceiling)} apart"
        ),
        f"  after {format_duration(d.max_age)}: {d.on_max_age}",
        f"  headless, contact away: {d.policy}",
        (f"  an email its SMTP server refused for {format_duration(d.email_by_im_after)} "
         "goes by chat" if d.email_by_im_after else "  emails go by email only"),
    ]
    h = config.health
    lines += [
        "",
        "health:",
        f"  every server probed every {format_duration(h.interval)}, one that fails every "
        f"{format_duration(h.critical_interval)} until it answers",
        f"  a probe waits {format_duration(h.timeout)} for an answer",
    ]
    return "\n".join(lines) + "\n"
