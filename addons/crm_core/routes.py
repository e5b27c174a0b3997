# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The public web form that captures leads

Every byte that comes in is hostile: the whole body is read with a deadline
before any database work, bounded, decoded strictly, validated field by
field, and everything echoed back is escaped. A bad request answers a
readable 4xx page, never a 500 or a stack trace."""
import datetime as dt
import html
import io
import logging
import re
import socket
import threading
import time
from urllib.parse import parse_qsl

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal
from werkzeug.exceptions import HTTPException

from trytond import backend, config
from trytond.i18n import gettext
from trytond.model.modelsql import SQLConstraintError
from trytond.protocols.wrappers import (
    HTTPStatus, Response, set_max_request_size, with_pool, with_transaction)
from trytond.transaction import Transaction, TransactionError
from trytond.wsgi import app

from .activity import CALENDAR_TOKEN
from .dbtools import warm_up
from .lead_capture import (
    FORM_FIELDS, UNSAFE_CHARACTERS, normalize_email, valid_email)

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
MAX_FIELDS = 20
HONEYPOT = 'homepage'
# The control characters but tab and line ends, the C1 controls and the
# bidirectional overrides and isolates
_CONTROL = UNSAFE_CHARACTERS
_COMPANY_ID = re.compile(r'[0-9]{1,9}', re.ASCII)
# How many times a lead whose transaction met a unique constraint of a
# concurrent one (e.g. a new UTM source posted twice at once) starts again
_CONFLICT_RETRY = 3


def read_timeout():
    "Return the seconds a client has to send the whole body"
    return config.getfloat('crm', 'web_form_read_timeout', default=10)


class FormError(Exception):
    "A bad request with the problems to list"

    def __init__(self, status, problems):
        super().__init__(status, problems)
        self.status = status
        self.problems = problems


class BodyError(Exception):
    """A body that could not be read: the status and the message name

    Raised before any database work, so the message is translated later."""

    def __init__(self, status, message):
        super().__init__(status, message)
        self.status = status
        self.message = message


class _CaptureConflict(TransactionError):
    "A unique constraint met a concurrent transaction: start again"


def _shutdown(sock):
    "Make the reads blocked on the socket return at once"
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


def read_body(environ, limit=MAX_BODY, timeout=None):
    """Return the whole body of the WSGI request read within timeout seconds

    Raise BodyError when it is over limit bytes (413), shorter than its
    Content-Length or broken (400) or not complete at the deadline (408).
    The deadline is enforced on the socket of the server when it gives it
    (werkzeug's, as `trytond` serves, and gunicorn's): at the deadline its
    reading side is shut down, which ends any blocked read. The body is then
    put back in the environment, so that it is read from memory."""
    if timeout is None:
        timeout = read_timeout()
    stream = environ.get('wsgi.input')
    chunked = 'chunked' in environ.get(
        'HTTP_TRANSFER_ENCODING', '').lower()
    length = environ.get('CONTENT_LENGTH') or ''
    if chunked:
        length = None
    elif not length:
        length = 0
    elif not (length.isascii() and length.isdigit()):
        raise BodyError(HTTPStatus.BAD_REQUEST, 'error_incomplete')
    else:
        length = int(length)
        if length > limit:
            raise BodyError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, 'error_too_large')
    # Without a length, the body ends at the end of the input: the server
    # dechunked it
    to_eof = length is None or bool(environ.get('wsgi.input_terminated'))
    if stream is None or (length == 0 and not chunked):
        data = b''
    else:
        sock = environ.get('werkzeug.socket') or environ.get(
            'gunicorn.socket')
        deadline = time.monotonic() + timeout
        watchdog = None
        if sock is not None:
            watchdog = threading.Timer(timeout, _shutdown, (sock,))
            watchdog.daemon = True
            watchdog.start()
        chunks, size = [], 0
        try:
            while True:
                wanted = (limit + 1 - size) if to_eof else (length - size)
                if wanted <= 0:
                    break
                chunk = stream.read(min(wanted, 64 * 1024))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    break
        except (socket.timeout, TimeoutError):
            raise BodyError(HTTPStatus.REQUEST_TIMEOUT, 'error_timeout')
        except (OSError, ValueError):
            # A broken chunk, a connection reset
            if time.monotonic() >= deadline:
                raise BodyError(HTTPStatus.REQUEST_TIMEOUT, 'error_timeout')
            raise BodyError(HTTPStatus.BAD_REQUEST, 'error_incomplete')
        finally:
            if watchdog:
                watchdog.cancel()
        data = b''.join(chunks)
        if len(data) > limit:
            raise BodyError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, 'error_too_large')
        complete = len(data) == length if length is not None else True
        if time.monotonic() >= deadline and (to_eof or not complete):
            raise BodyError(HTTPStatus.REQUEST_TIMEOUT, 'error_timeout')
        if not complete:
            raise BodyError(HTTPStatus.BAD_REQUEST, 'error_incomplete')
    environ['wsgi.input'] = io.BytesIO(data)
    environ['CONTENT_LENGTH'] = str(len(data))
    environ.pop('HTTP_TRANSFER_ENCODING', None)
    environ['wsgi.input_terminated'] = True
    return data


def _(name, **variables):
    return gettext('crm_core.msg_lead_capture_' + name, **variables)


def _locale(lang=None):
    "Return the babel Locale of lang, by default the transaction's"
    if lang is None:
        lang = Transaction().language or 'en'
    try:
        return Locale.parse(lang)
    except (ValueError, UnknownLocaleError):
        return Locale.parse('en')


def _number(value):
    "Format the number in the language of the page"
    return format_decimal(value, locale=_locale())


def _date(value):
    "Format the date in the language of the page"
    return format_date(value, format='long', locale=_locale())


def _language(request, pool):
    "Return the best language of Accept-Language among the translatable"
    Lang = pool.get('ir.lang')
    try:
        codes = [l.code for l in Lang.search([('translatable', '=', True)])]
        code = request.accept_languages.best_match(
            [c.replace('_', '-') for c in codes])
    except Exception:
        code = None
    return code.replace('-', '_') if code else None


def _page(status, title, body, lang='en'):
    """Return a complete HTML page; title and body must be escaped already

    The page is laid out right-to-left for a language written so (Hebrew)"""
    direction = (
        'rtl' if _locale(lang).character_order == 'right-to-left' else 'ltr')
    content = (
        '<!DOCTYPE html>\n'
        f'<html lang="{html.escape(lang.replace("_", "-"))}" '
        f'dir="{direction}">\n'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title>'
        # Fits a phone (360 px): nothing wider than the screen, and the
        # honeypot out of sight on the side that does not scroll, in both
        # directions of writing
        '<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;'
        'padding:0 1em;line-height:1.5;overflow-wrap:anywhere}'
        'label{display:block;margin-top:1em}'
        'input,textarea,button{font:inherit;max-width:100%}'
        'input,textarea{width:100%;box-sizing:border-box}'
        'button{padding:.5em 1.5em}'
        '.hp{position:absolute;inset-inline-start:-10000px;width:1px;'
        'height:1px;overflow:hidden}</style></head>\n'
        f'<body><main><h1>{title}</h1>\n{body}\n</main></body></html>\n')
    return Response(
        content, status, content_type='text/html; charset=utf-8',
        headers={
            'Cache-Control': 'no-store',
            'X-Content-Type-Options': 'nosniff',
            'Content-Security-Policy': (
                "default-src 'none'; style-src 'unsafe-inline'; "
                "form-action 'self'; frame-ancestors *"),
            })


def _error_page(status, problems, lang='en'):
    items = ''.join(f'<li>{html.escape(p)}</li>' for p in problems)
    return _page(
        status, html.escape(_('error_title')),
        f'<p>{html.escape(_("error_intro"))}</p>\n'
        f'<ul role="alert">{items}</ul>', lang)


def _form_page(action, lang='en'):
    e = html.escape
    fields = []
    for name, input_type, required, autocomplete in [
            ('name', 'text', True, 'name'),
            ('email', 'email', False, 'email'),
            ('phone', 'tel', False, 'tel'),
            ('company', 'text', False, 'organization'),
            ]:
        fields.append(
            f'<label for="crm-{name}">{e(_("label_" + name))}'
            f'{" *" if required else ""}</label>'
            f'<input id="crm-{name}" name="{name}" type="{input_type}" '
            f'maxlength="{FORM_FIELDS[name]}" autocomplete="{autocomplete}"'
            f'{" required" if required else ""}>')
    fields.append(
        f'<label for="crm-message">{e(_("label_message"))}</label>'
        f'<textarea id="crm-message" name="message" rows="6" '
        f'maxlength="{FORM_FIELDS["message"]}"></textarea>')
    fields.append(
        f'<div class="hp" aria-hidden="true"><label for="crm-{HONEYPOT}">'
        f'{e(_("label_honeypot"))}</label><input id="crm-{HONEYPOT}" '
        f'name="{HONEYPOT}" type="text" tabindex="-1" autocomplete="off">'
        '</div>')
    body = (
        f'<form method="post" action="{e(action)}" '
        'enctype="application/x-www-form-urlencoded">\n'
        + '\n'.join(fields)
        + f'\n<p><button type="submit">{e(_("submit"))}</button></p>'
        '</form>')
    return _page(HTTPStatus.OK, e(_('form_title')), body, lang)


def parse_form(request, max_fields=MAX_FIELDS):
    """Return the form fields of the request as a dictionary of strings

    The body was read by read_body. Raise FormError for a wrong content
    type, a body not UTF-8, repeated fields or more than max_fields."""
    if request.mimetype != 'application/x-www-form-urlencoded':
        raise FormError(
            HTTPStatus.BAD_REQUEST, [_('error_content_type')])
    data = request.environ['crm_core.body']
    try:
        pairs = parse_qsl(
            data.decode('utf-8'), keep_blank_values=True, strict_parsing=False,
            encoding='utf-8', errors='strict', max_num_fields=max_fields)
    except UnicodeDecodeError:
        raise FormError(HTTPStatus.BAD_REQUEST, [_('error_encoding')])
    except ValueError:
        raise FormError(HTTPStatus.BAD_REQUEST, [_('error_too_many_fields')])
    form = {}
    for key, value in pairs:
        if key in form:
            raise FormError(
                HTTPStatus.BAD_REQUEST, [_('error_repeated')])
        form[key] = value
    return form


def validate_form(
        form, fields=FORM_FIELDS, label=None, multiline=frozenset({'message'})):
    """Return the cleaned values of the fields or raise FormError

    fields maps the names to their maximal length, label gives the label of
    a name (by default the lead form's), the spaces of the fields not
    multiline are collapsed. A name field must not be empty, an email field
    must be an address."""
    if label is None:
        def label(name):
            return _('label_' + name)
    problems = []
    values = {}
    for name, size in fields.items():
        value = form.get(name, '')
        # Checked before the spaces are collapsed: str.split() takes some
        # controls (\x0b, \x1c-\x1f, \x85) for spaces
        if _CONTROL & set(value):
            problems.append(_('error_control', field=label(name)))
            continue
        value = value.strip()
        if name not in multiline:
            value = ' '.join(value.split())
        if len(value) > size:
            problems.append(_(
                    'error_size', field=label(name),
                    size=_number(size)))
            continue
        values[name] = value
    if 'name' in values and not values['name']:
        problems.append(_('error_name_required'))
    if values.get('email'):
        values['email'] = normalize_email(values['email'])
        if not valid_email(values['email']):
            problems.append(_('error_email'))
    if problems:
        raise FormError(HTTPStatus.BAD_REQUEST, problems)
    return values


def _activated(pool):
    "Whether crm_core is activated on the database of the pool"
    try:
        pool.get('crm.configuration')
    except KeyError:
        return False
    return True


@app.route('/<database_name>/crm/lead', methods={'GET', 'POST'})
@set_max_request_size(MAX_BODY)
def lead(request, database_name):
    """The web form: the body is read whole, with a deadline, before the
    database is touched, so that a slow or stalled client never holds a
    connection of the pool nor a transaction"""
    if request.method == 'POST':
        try:
            request.environ['crm_core.body'] = read_body(request.environ)
        except BodyError as e:
            request.environ['crm_core.body_error'] = e
    warm_up(database_name)
    return _lead_transaction(request, database_name)


@with_pool
@with_transaction()
def _lead_transaction(request, pool):
    if not _activated(pool):
        return _page(
            HTTPStatus.NOT_FOUND, html.escape("Not Found"),
            '<p>The requested URL was not found on the server.</p>')
    return form_response(request, pool, _lead)


def form_response(request, pool, handler):
    """Return handler(request, pool, lang) answered in the language of the
    request, a FormError or a body that could not be read as an error page

    Called inside the transaction of a public route whose body was read by
    read_body into request.environ['crm_core.body'] (or its BodyError into
    'crm_core.body_error'). A conflict with a concurrent transaction starts
    the transaction again; anything else answers a page, never a trace."""
    transaction = Transaction()
    lang = _language(request, pool) or 'en'
    with transaction.set_context(language=lang):
        try:
            error = request.environ.get('crm_core.body_error')
            if error:
                raise FormError(error.status, [_(error.message)])
            return handler(request, pool, lang)
        except FormError as e:
            transaction.rollback()
            return _error_page(e.status, e.problems, lang)
        except (HTTPException, TransactionError,
                backend.DatabaseOperationalError):
            # A conflict: with_transaction starts again
            raise
        except (backend.DatabaseIntegrityError, SQLConstraintError):
            # A record that a concurrent post created first (trytond tells
            # a unique constraint as SQLConstraintError): start again to see
            # it, a few times
            retry = request.environ.get('crm_core.conflicts', 0)
            if retry < _CONFLICT_RETRY:
                request.environ['crm_core.conflicts'] = retry + 1
                logger.info("public form conflict, again", exc_info=True)
                raise _CaptureConflict()
            logger.exception("public form failed")
            transaction.rollback()
            return _error_page(
                HTTPStatus.INTERNAL_SERVER_ERROR, [_('error_internal')], lang)
        except Exception:
            logger.exception("public form failed")
            transaction.rollback()
            return _error_page(
                HTTPStatus.INTERNAL_SERVER_ERROR, [_('error_internal')], lang)


def _lead(request, pool, lang):
    Configuration = pool.get('crm.configuration')
    Opportunity = pool.get('sale.opportunity')

    company_id = request.args.get('company')
    if company_id is not None:
        if not _COMPANY_ID.fullmatch(company_id):
            raise FormError(HTTPStatus.NOT_FOUND, [_('error_company')])
        company_id = int(company_id)
    company = Opportunity.capture_company(company_id)
    if not company:
        raise FormError(HTTPStatus.NOT_FOUND, [_('error_company')])

    if request.method == 'GET':
        return _form_page(
            request.script_root + request.full_path.rstrip('?'), lang)

    form = parse_form(request)
    if form.get(HONEYPOT):
        # Answer as if all went well, so that the robot learns nothing
        return _thanks_page(lang)
    values = validate_form(form)

    address = request.remote_addr or ''
    limit = Configuration(1).web_form_rate_limit
    if Opportunity.capture_count(address) >= limit:
        raise FormError(HTTPStatus.TOO_MANY_REQUESTS, [_('error_rate_limit')])

    Opportunity.capture_web_form(values, address, company=company)
    return _thanks_page(lang)


def _thanks_page(lang):
    received = _('thanks_received', date=_date(dt.date.today()))
    return _page(
        HTTPStatus.OK, html.escape(_('thanks_title')),
        f'<p role="status">{html.escape(_("thanks"))}</p>\n'
        f'<p>{html.escape(received)}</p>', lang)


def _not_found():
    return _page(
        HTTPStatus.NOT_FOUND, html.escape("Not Found"),
        '<p>The requested URL was not found on the server.</p>')


@app.route('/<database_name>/crm/calendar/<token>.ics',
    methods={'GET', 'HEAD'})
def activity_calendar(request, database_name, token):
    """The calendar of the planned activities of the user whose personal
    token is in the address, for a calendar application to subscribe to

    A token of the wrong shape is refused before the database is touched; a
    good-looking one is found by its hash. A wrong, revoked or foreign token
    answers the same 404."""
    if not CALENDAR_TOKEN.fullmatch(token):
        return _not_found()
    return _calendar_transaction(request, database_name, token)


@app.route('/<database_name>/crm/calendar/<path:path>',
    methods={'GET', 'HEAD'})
def activity_calendar_other(request, database_name, path):
    "Any other address under the calendars is not found either"
    return _not_found()


@with_pool
@with_transaction(readonly=True)
def _calendar_transaction(request, pool, token):
    if not _activated(pool):
        return _not_found()
    Token = pool.get('crm.activity.calendar.token')
    User = pool.get('res.user')
    user = Token.get_user(token)
    if not user:
        return _not_found()
    transaction = Transaction()
    with transaction.set_user(user.id), \
            transaction.set_context(User.get_preferences(context_only=True)):
        user = User(user.id)
        try:
            data = user.crm_activity_calendar()
        except Exception:
            logger.exception("activity calendar failed")
            return _page(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                html.escape("Internal Server Error"),
                '<p>The calendar could not be made.</p>')
    return Response(
        data, HTTPStatus.OK, content_type='text/calendar; charset=utf-8',
        headers={
            'Cache-Control': 'private, no-store',
            'X-Content-Type-Options': 'nosniff',
            'Content-Disposition': 'inline; filename="activities.ics"',
            'Referrer-Policy': 'no-referrer',
            })
