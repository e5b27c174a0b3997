# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The public web form that captures leads

Every byte that comes in is hostile: the body is bounded, decoded strictly,
validated field by field, and everything echoed back is escaped. A bad
request answers a readable 4xx page, never a 500 or a stack trace."""
import html
import logging
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from trytond import backend
from trytond.i18n import gettext
from trytond.protocols.wrappers import (
    HTTPStatus, Response, set_max_request_size, with_pool, with_transaction)
from trytond.transaction import Transaction, TransactionError
from trytond.wsgi import app

from .lead_capture import FORM_FIELDS, normalize_email, valid_email

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
MAX_FIELDS = 20
HONEYPOT = 'homepage'
_CONTROL = {chr(c) for c in range(32)} - {'\t', '\n', '\r'} | {'\x7f'}


class FormError(Exception):
    "A bad request with the problems to list"

    def __init__(self, status, problems):
        super().__init__(status, problems)
        self.status = status
        self.problems = problems


def _(name, **variables):
    return gettext('crm_core.msg_lead_capture_' + name, **variables)


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
    "Return a complete HTML page; title and body must be escaped already"
    content = (
        '<!DOCTYPE html>\n'
        f'<html lang="{html.escape(lang.replace("_", "-"))}">\n'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title>'
        '<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;'
        'padding:0 1em;line-height:1.5}label{display:block;margin-top:1em}'
        'input,textarea{width:100%;box-sizing:border-box;font:inherit}'
        '.hp{position:absolute;left:-10000px;width:1px;height:1px;'
        'overflow:hidden}</style></head>\n'
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


def parse_form(request):
    """Return the form fields of the request as a dictionary of strings

    Raise FormError for a wrong content type, a body too large or not
    UTF-8, repeated or unknown-size fields."""
    if request.mimetype != 'application/x-www-form-urlencoded':
        raise FormError(
            HTTPStatus.BAD_REQUEST, [_('error_content_type')])
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise FormError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, [_('error_too_large')])
    # Kept for a transaction started again (a lock to take): the stream is
    # read once
    data = request.environ.get('crm_core.body')
    if data is None:
        try:
            data = request.stream.read(MAX_BODY + 1)
        except RequestEntityTooLarge:
            data = b'x' * (MAX_BODY + 1)
        request.environ['crm_core.body'] = data
    if len(data) > MAX_BODY:
        raise FormError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, [_('error_too_large')])
    try:
        pairs = parse_qsl(
            data.decode('utf-8'), keep_blank_values=True, strict_parsing=False,
            encoding='utf-8', errors='strict', max_num_fields=MAX_FIELDS)
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


def validate_form(form):
    "Return the cleaned values of FORM_FIELDS or raise FormError"
    problems = []
    values = {}
    for name, size in FORM_FIELDS.items():
        value = form.get(name, '').strip()
        if name != 'message':
            value = ' '.join(value.split())
        if _CONTROL & set(value) or (
                name != 'message' and '\n' in value):
            problems.append(_('error_control', field=_('label_' + name)))
            continue
        if len(value) > size:
            problems.append(_(
                    'error_size', field=_('label_' + name), size=size))
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
@with_pool
@with_transaction()
def lead(request, pool):
    if not _activated(pool):
        return _page(
            HTTPStatus.NOT_FOUND, html.escape("Not Found"),
            '<p>The requested URL was not found on the server.</p>')
    transaction = Transaction()
    lang = _language(request, pool) or 'en'
    with transaction.set_context(language=lang):
        try:
            return _lead(request, pool, lang)
        except FormError as e:
            transaction.rollback()
            return _error_page(e.status, e.problems, lang)
        except (HTTPException, TransactionError,
                backend.DatabaseOperationalError):
            # A lock to take or a conflict: with_transaction starts again
            raise
        except Exception:
            logger.exception("lead capture failed")
            transaction.rollback()
            return _error_page(
                HTTPStatus.INTERNAL_SERVER_ERROR, [_('error_internal')], lang)


def _lead(request, pool, lang):
    Configuration = pool.get('crm.configuration')
    Opportunity = pool.get('sale.opportunity')

    company_id = request.args.get('company')
    if company_id is not None:
        if not company_id.isdigit() or len(company_id) > 9:
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
    return _page(
        HTTPStatus.OK, html.escape(_('thanks_title')),
        f'<p role="status">{html.escape(_("thanks"))}</p>', lang)
