# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The public web channel of the tickets: the form that opens a ticket and
the customer's status page reached by the secret token of its link

Hardened as crm_core's lead form, whose helpers they use: the whole body is
read with a deadline before any database work, bounded, decoded strictly
and validated field by field; everything shown is escaped; a bad request
answers a readable 4xx page, never a 500 or a stack trace."""
import html
import re
from urllib.parse import quote

from babel.dates import format_date, format_time
from werkzeug.utils import redirect

from trytond.i18n import gettext
from trytond.protocols.wrappers import (
    HTTPStatus, set_max_request_size, with_pool, with_transaction)
from trytond.tools import timezone as tz
from trytond.transaction import Transaction
from trytond.wsgi import app

from trytond.modules.crm_core.dbtools import warm_up
from trytond.modules.crm_core.lead_capture import FORM_FIELDS
from trytond.modules.crm_core.routes import (
    HONEYPOT, MAX_BODY, BodyError, FormError, _ as core_, _date, _locale,
    _page, form_response, parse_form, read_body, validate_form)

from .portal import TOKEN

# The fields of the form and their maximal length in characters
TICKET_FIELDS = {
    'name': FORM_FIELDS['name'],
    'email': FORM_FIELDS['email'],
    'phone': FORM_FIELDS['phone'],
    'subject': 200,
    'description': FORM_FIELDS['message'],
    }
ANSWER_FIELDS = {
    'message': FORM_FIELDS['message'],
    }
_COMPANY_ID = re.compile(r'[0-9]{1,9}', re.ASCII)


def _(name, **variables):
    return gettext('crm_service.msg_ticket_portal_' + name, **variables)


def _label(name):
    return _('label_' + name)


def _activated(pool):
    "Whether crm_service is activated on the database of the pool"
    try:
        pool.get('crm.ticket')
    except KeyError:
        return False
    return True


def _read(request):
    """Read the whole body of a post with a deadline, before the database is
    touched, so that a slow or stalled client never holds a connection of
    the pool nor a transaction"""
    if request.method == 'POST':
        try:
            request.environ['crm_core.body'] = read_body(request.environ)
        except BodyError as e:
            request.environ['crm_core.body_error'] = e


def _not_found_page(lang='en'):
    return _page(
        HTTPStatus.NOT_FOUND, html.escape(_('not_found_title')),
        f'<p role="alert">{html.escape(_("not_found"))}</p>', lang)


def _not_activated():
    return _page(
        HTTPStatus.NOT_FOUND, html.escape("Not Found"),
        '<p>The requested URL was not found on the server.</p>')


@app.route('/<database_name>/crm/ticket', methods={'GET', 'POST'})
@set_max_request_size(MAX_BODY)
def ticket_form(request, database_name):
    "The form that opens a ticket"
    _read(request)
    warm_up(database_name)
    return _form_transaction(request, database_name)


@with_pool
@with_transaction()
def _form_transaction(request, pool):
    if not _activated(pool):
        return _not_activated()
    return form_response(request, pool, _ticket_form)


def _company(request, pool):
    "The company of the ?company= argument, by default the first"
    Opportunity = pool.get('sale.opportunity')
    company_id = request.args.get('company')
    if company_id is not None:
        if not _COMPANY_ID.fullmatch(company_id):
            raise FormError(HTTPStatus.NOT_FOUND, [core_('error_company')])
        company_id = int(company_id)
    company = Opportunity.capture_company(company_id)
    if not company:
        raise FormError(HTTPStatus.NOT_FOUND, [core_('error_company')])
    return company


def _ticket_form(request, pool, lang):
    Configuration = pool.get('crm.configuration')
    Ticket = pool.get('crm.ticket')

    company = _company(request, pool)
    if request.method == 'GET':
        return _form_page(
            request.script_root + request.full_path.rstrip('?'), lang)

    form = parse_form(request)
    if form.get(HONEYPOT):
        # Answer as if all went well, so that the robot learns nothing
        return _page(
            HTTPStatus.OK, html.escape(_('thanks_title')),
            f'<p role="status">{html.escape(core_("thanks"))}</p>', lang)
    values = validate_form(
        form, TICKET_FIELDS, label=_label, multiline={'description'})
    problems = [_('error_required', field=_label(n))
        for n in ['email', 'subject', 'description'] if not values.get(n)]
    if problems:
        raise FormError(HTTPStatus.BAD_REQUEST, problems)

    address = request.remote_addr or ''
    limit = Configuration(1).web_form_rate_limit
    if Ticket.web_count(address) >= limit:
        raise FormError(
            HTTPStatus.TOO_MANY_REQUESTS, [core_('error_rate_limit')])

    ticket, token = Ticket.web_create(values, address, company)
    e = html.escape
    if token is None:
        body = (f'<p role="status">'
            f'{e(_("thanks_again", number=ticket.number or ""))}</p>')
    else:
        url = request.script_root + quote(
            f'/{Transaction().database.name}/crm/ticket/{token}')
        thanks = _('thanks', number=ticket.number or '',
            date=_date(ticket.reported_date.date()))
        body = (
            f'<p role="status">{e(thanks)}</p>\n'
            f'<p><a href="{e(url)}">{e(_("thanks_link"))}</a></p>')
    return _page(HTTPStatus.OK, e(_('thanks_title')), body, lang)


def _form_page(action, lang):
    e = html.escape
    fields = []
    for name, input_type, required, autocomplete in [
            ('name', 'text', True, 'name'),
            ('email', 'email', True, 'email'),
            ('phone', 'tel', False, 'tel'),
            ('subject', 'text', True, 'off'),
            ]:
        fields.append(
            f'<label for="crm-{name}">{e(_label(name))}'
            f'{" *" if required else ""}</label>'
            f'<input id="crm-{name}" name="{name}" type="{input_type}" '
            f'maxlength="{TICKET_FIELDS[name]}" autocomplete="{autocomplete}"'
            f'{" required" if required else ""}>')
    fields.append(
        f'<label for="crm-description">{e(_label("description"))} *</label>'
        f'<textarea id="crm-description" name="description" rows="8" '
        f'maxlength="{TICKET_FIELDS["description"]}" required></textarea>')
    fields.append(
        f'<div class="hp" aria-hidden="true"><label for="crm-{HONEYPOT}">'
        f'{e(core_("label_honeypot"))}</label><input id="crm-{HONEYPOT}" '
        f'name="{HONEYPOT}" type="text" tabindex="-1" autocomplete="off">'
        '</div>')
    body = (
        f'<form method="post" action="{e(action)}" '
        'enctype="application/x-www-form-urlencoded">\n'
        + '\n'.join(fields)
        + f'\n<p><button type="submit">{e(_("submit"))}</button></p>'
        '</form>')
    return _page(HTTPStatus.OK, e(_('form_title')), body, lang)


@app.route('/<database_name>/crm/ticket/<token>', methods={'GET', 'POST'})
@set_max_request_size(MAX_BODY)
def ticket_status(request, database_name, token):
    """The status page of the ticket whose secret token is in the address

    A wrong, replaced or malformed token answers the same 404 page."""
    _read(request)
    warm_up(database_name)
    return _status_transaction(request, database_name, token)


@app.route('/<database_name>/crm/ticket/<path:path>',
    methods={'GET', 'POST'})
def ticket_other(request, database_name, path):
    "Any other address under the tickets is not found"
    return _other_transaction(request, database_name)


@with_pool
@with_transaction(readonly=True)
def _other_transaction(request, pool):
    if not _activated(pool):
        return _not_activated()
    return form_response(
        request, pool, lambda request, pool, lang: _not_found_page(lang))


@with_pool
@with_transaction()
def _status_transaction(request, pool, token):
    if not _activated(pool):
        return _not_activated()

    def handler(request, pool, lang):
        return _status(request, pool, lang, token)
    return form_response(request, pool, handler)


def _status(request, pool, lang, token):
    Ticket = pool.get('crm.ticket')
    # The token is checked before the body: a wrong link tells nothing else
    ticket = Ticket.portal_get(token) if TOKEN.fullmatch(token) else None
    if ticket is None:
        return _not_found_page(lang)
    if request.method == 'GET':
        return _status_page(request, ticket, lang)

    # Answered relative: the address of the page, whatever the Host said
    page = request.script_root + request.path
    form = parse_form(request)
    if form.get(HONEYPOT):
        return redirect(page, HTTPStatus.SEE_OTHER)
    action = form.pop('action', None)
    if action == 'answer':
        values = validate_form(form, ANSWER_FIELDS, label=_label)
        if not values['message']:
            raise FormError(
                HTTPStatus.BAD_REQUEST, [_('error_answer_required')])
        if ticket.state in {'closed', 'cancelled'}:
            raise FormError(HTTPStatus.CONFLICT, [_('error_closed')])
        ticket.portal_answer(values['message'])
    elif action == 'close':
        if ticket.state != 'resolved':
            raise FormError(HTTPStatus.CONFLICT, [_('error_not_resolved')])
        Ticket.portal_close([ticket])
    else:
        raise FormError(HTTPStatus.BAD_REQUEST, [_('error_action')])
    # Post, redirect, get: reloading the page does not post again
    return redirect(page, HTTPStatus.SEE_OTHER)


def _datetime(value, timezone):
    """Format the UTC datetime to the minute in the timezone and the
    language of the page"""
    locale = _locale()
    value = value.replace(tzinfo=tz.UTC).astimezone(timezone)
    return str(locale.datetime_formats['medium']).replace(
        '{1}', format_date(value, format='medium', locale=locale)).replace(
        '{0}', format_time(value, format='short', locale=locale))


def _status_page(request, ticket, lang):
    """The number, subject, state and dates of the ticket and the public
    messages of its chat; nothing else (no id, no e-mail address)"""
    e = html.escape
    Ticket = ticket.__class__
    timezone = tz.UTC
    if ticket.company.timezone:
        timezone = tz.get_tzinfo(ticket.company.timezone)
    states = dict(Ticket.fields_get(['state'])['state']['selection'])
    rows = [
        (_label('ticket_subject'), ticket.subject),
        (_label('state'), states.get(ticket.state, ticket.state)),
        (_label('reported'), _datetime(ticket.reported_date, timezone)),
        ]
    for name in ['resolved', 'closed']:
        value = getattr(ticket, f'{name}_date')
        if value and ticket.state in {'resolved', 'closed'}:
            rows.append((_label(name), _datetime(value, timezone)))
    # The texts of the customer and of the agents take their own direction
    details = ''.join(
        f'<dt>{e(k)}</dt><dd dir="auto">{e(v)}</dd>' for k, v in rows)

    messages = []
    for message in ticket.portal_messages():
        # An agent is the helpdesk; whoever wrote by e-mail (or through
        # this page) is the customer's side, the address never shown
        if message.user and message.user.id != 0:
            author = _('author_helpdesk')
        else:
            author = _('author_customer')
        messages.append(
            '<article><p><strong>'
            f'{e(author)}</strong> · '
            f'<time>{e(_datetime(message.create_date, timezone))}</time></p>'
            f'<p dir="auto" style="white-space:pre-wrap">'
            f'{e(message.content)}</p>'
            '</article>')
    if not messages:
        messages.append(f'<p>{e(_("no_message"))}</p>')

    action = request.script_root + request.path
    parts = [
        f'<dl>{details}</dl>',
        f'<h2>{e(_("conversation"))}</h2>',
        '\n'.join(messages),
        ]
    if ticket.state in {'closed', 'cancelled'}:
        new = request.script_root + quote(
            f'/{Transaction().database.name}/crm/ticket')
        parts.append(
            f'<p role="status">{e(_("closed"))}</p>'
            f'<p><a href="{e(new)}">{e(_("new"))}</a></p>')
    else:
        parts.append(
            f'<form method="post" action="{e(action)}" '
            'enctype="application/x-www-form-urlencoded">'
            '<input type="hidden" name="action" value="answer">'
            f'<label for="crm-message">{e(_label("message"))}</label>'
            f'<textarea id="crm-message" name="message" rows="5" '
            f'maxlength="{ANSWER_FIELDS["message"]}" required></textarea>'
            f'<p><button type="submit">{e(_("answer"))}</button></p>'
            '</form>')
        if ticket.state == 'resolved':
            parts.append(
                f'<form method="post" action="{e(action)}" '
                'enctype="application/x-www-form-urlencoded">'
                '<input type="hidden" name="action" value="close">'
                f'<p>{e(_("close_intro"))}</p>'
                f'<p><button type="submit">{e(_("close"))}</button></p>'
                '</form>')
    title = e(_('status_title', number=ticket.number or ''))
    response = _page(HTTPStatus.OK, title, '\n'.join(parts), lang)
    # The token is in the address: never sent to another site. Not
    # no-referrer: with it Chrome posts the page's own form with "Origin:
    # null", which trytond refuses (403)
    response.headers['Referrer-Policy'] = 'same-origin'
    return response
