# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The public answer page of a survey, reached by the secret token of an
invitation's link

Hardened as crm_core's lead form, whose helpers it uses: the whole body is
read with a deadline before any database work, bounded, decoded strictly
and checked question by question; everything shown is escaped; a bad
request answers a readable 4xx page, never a 500 or a stack trace."""
import html

from werkzeug.utils import redirect

from trytond.i18n import gettext
from trytond.protocols.wrappers import (
    HTTPStatus, set_max_request_size, with_pool, with_transaction)
from trytond.transaction import Transaction
from trytond.wsgi import app

from trytond.modules.crm_core.dbtools import warm_up
from trytond.modules.crm_core.routes import (
    BodyError, FormError, _page, form_response, parse_form, read_body)

from .answering import field_name, form_of, parse_answers, visible_questions
from .response import TOKEN
from .survey import CHAR_SIZE, TEXT_SIZE

#: The largest body of an answer page: the long texts of a survey
MAX_BODY = 64 * 1024
#: The most form fields: one by question, option of a multiple choice and
#: row of a matrix
MAX_FIELDS = 400
# Radios and boxes keep their size; the errors and the help stand out
_STYLE = (
    '<style>fieldset{border:0;padding:0;margin:1.5em 0 0}'
    'legend,.q>label{font-weight:bold;padding:0}'
    '.choice label{display:flex;gap:.5em;align-items:center;margin:.4em 0;'
    'font-weight:normal}'
    '.choice input{width:auto}'
    '.scale{display:flex;flex-wrap:wrap;gap:.2em 1em}'
    '.help{color:#555;margin:.2em 0}'
    '.error{color:#b00020;font-weight:bold;margin:.2em 0}'
    '.actions{display:flex;flex-wrap:wrap;gap:1em;margin-top:2em}'
    '</style>')


def _(name, **variables):
    return gettext('crm_survey.msg_survey_page_' + name, **variables)


def _activated(pool):
    "Whether crm_survey is activated on the database of the pool"
    try:
        pool.get('crm.survey')
    except KeyError:
        return False
    return True


def _not_activated():
    return _page(
        HTTPStatus.NOT_FOUND, html.escape("Not Found"),
        '<p>The requested URL was not found on the server.</p>')


def _not_found_page(lang):
    "The one page of a wrong, expired or cancelled link"
    return _page(
        HTTPStatus.NOT_FOUND, html.escape(_('not_found_title')),
        f'<p role="alert">{html.escape(_("not_found"))}</p>', lang)


@app.route('/<database_name>/crm/survey/<token>', methods={'GET', 'POST'})
@set_max_request_size(MAX_BODY)
def survey_answer(request, database_name, token):
    """The answer page of the invitation whose secret token is in the
    address: the body is read whole, with a deadline, before the database
    is touched"""
    if request.method == 'POST':
        try:
            request.environ['crm_core.body'] = read_body(
                request.environ, limit=MAX_BODY)
        except BodyError as e:
            request.environ['crm_core.body_error'] = e
    warm_up(database_name)
    return _answer_transaction(request, database_name, token)


@app.route('/<database_name>/crm/survey/<path:path>',
    methods={'GET', 'POST'})
def survey_other(request, database_name, path):
    "Any other address under the surveys is not found"
    return _other_transaction(request, database_name)


@with_pool
@with_transaction(readonly=True)
def _other_transaction(request, pool):
    if not _activated(pool):
        return _not_activated()
    return form_response(
        request, pool, lambda request, pool, lang: _not_found_page(lang))


@with_pool
# Read-write on GET too: opening the page marks the invitation opened
@with_transaction(readonly=False)
def _answer_transaction(request, pool, token):
    if not _activated(pool):
        return _not_activated()

    def handler(request, pool, lang):
        return _answer(request, pool, lang, token)
    return form_response(request, pool, handler)


def _answer(request, pool, lang, token):
    Invitation = pool.get('crm.survey.invitation')
    Response = pool.get('crm.survey.response')
    # The token is checked before the body: a wrong link tells nothing else
    invitation = Invitation.from_token(token) if TOKEN.fullmatch(token) else (
        None)
    if invitation is None:
        return _not_found_page(lang)
    survey = invitation.survey
    if survey.language:
        lang = survey.language.code
    with Transaction().set_context(language=lang):
        # Read again in the language of the page: the texts are translated
        invitation = Invitation(invitation.id)
        survey = invitation.survey
        response = invitation.response
        if response and response.state == 'submitted':
            if request.method == 'POST':
                raise FormError(HTTPStatus.CONFLICT, [_('already')])
            return _thanks_page(survey, lang)
        if not survey.accepts_answers():
            return _page(
                HTTPStatus.GONE, html.escape(_('closed_title')),
                f'<p role="alert">{html.escape(_("closed"))}</p>', lang)
        if invitation.state == 'sent':
            Invitation.open([invitation])
        questions = survey.ordered_questions()
        page = request.script_root + request.path
        if request.method == 'GET':
            values = response.answer_values() if response else {}
            notice = _('saved') if 'saved' in request.args else None
            return _survey_page(
                HTTPStatus.OK, page, survey, questions, values,
                form_of(questions, values), {}, lang, notice=notice)

        form = parse_form(request, max_fields=MAX_FIELDS)
        action = form.pop('action', None)
        if action not in {'save', 'submit'}:
            raise FormError(HTTPStatus.BAD_REQUEST, [_('error_action')])
        submit = action == 'submit'
        values, shown, problems = parse_answers(questions, form, submit)
        if problems:
            return _survey_page(
                HTTPStatus.BAD_REQUEST, page, survey, questions, values,
                form, problems, lang)
        response = invitation.get_or_start_response()
        if response.state == 'submitted':
            raise FormError(HTTPStatus.CONFLICT, [_('already')])
        response = Response(response.id)
        response.set_answers(values, submit=submit)
        if submit:
            return _thanks_page(survey, lang)
        # Post, redirect, get: reloading the page does not post again
        return redirect(page + '?saved=1', HTTPStatus.SEE_OTHER)


def _paragraphs(text):
    "The text as escaped paragraphs in their own direction"
    return ''.join(
        f'<p dir="auto">{html.escape(p.strip())}</p>'
        for p in (text or '').split('\n\n') if p.strip())


def _thanks_page(survey, lang):
    body = _paragraphs(survey.thanks) or (
        f'<p>{html.escape(_("thanks"))}</p>')
    response = _page(
        HTTPStatus.OK, html.escape(_('thanks_title')),
        f'<div role="status">{body}</div>', lang)
    response.headers['Referrer-Policy'] = 'same-origin'
    return response


def _scale_labels(question):
    "The (value, label) of the points of a scale question or matrix row"
    low, high = question.scale
    if question.type == 'csat':
        return [(v, _(f'csat_{v}')) for v in range(low, high + 1)]
    if question.type == 'matrix':
        return [(v, _(f'matrix_{v}')) for v in range(low, high + 1)]
    return [(v, str(v)) for v in range(low, high + 1)]


def _radios(name, choices, checked, described):
    e = html.escape
    return ''.join(
        f'<label><input type="radio" name="{e(name)}" value="{e(str(v))}"'
        f'{" checked" if str(v) == checked else ""}{described}>'
        f'<span dir="auto">{e(label)}</span></label>'
        for v, label in choices)


def _question(question, form, problem):
    "The HTML of a question: its label, help, input and problem"
    e = html.escape
    name = field_name(question)
    ids = []
    parts = []
    if question.help:
        parts.append(
            f'<p class="help" id="{name}-help" dir="auto">'
            f'{e(question.help)}</p>')
        ids.append(f'{name}-help')
    if problem:
        parts.append(
            f'<p class="error" id="{name}-error" role="alert">'
            f'{e(problem)}</p>')
        ids.append(f'{name}-error')
    described = (f' aria-describedby="{" ".join(ids)}"' if ids else '')
    if problem:
        described += ' aria-invalid="true"'
    required = ' *' if question.required else ''
    title = f'<span dir="auto">{e(question.name)}</span>{required}'
    value = form.get(name, '')
    type_ = question.type
    if type_ in {'char', 'text', 'number', 'date'}:
        if type_ == 'text':
            field = (
                f'<textarea id="{name}" name="{name}" rows="5" '
                f'maxlength="{TEXT_SIZE}"{described}>{e(value)}</textarea>')
        else:
            attributes = {
                'char': f'type="text" maxlength="{CHAR_SIZE}"',
                'number': 'type="text" inputmode="decimal" maxlength="24"',
                'date': 'type="date"',
                }[type_]
            field = (
                f'<input id="{name}" name="{name}" {attributes} '
                f'value="{e(value)}"{described}>')
        return (f'<div class="q"><label for="{name}">{title}</label>'
            + ''.join(parts) + field + '</div>')
    if type_ == 'single':
        inputs = _radios(name,
            [(o.id, o.name) for o in question.options], value, described)
    elif type_ == 'multiple':
        inputs = ''.join(
            f'<label><input type="checkbox" '
            f'name="{e(field_name(question, o))}" value="1"'
            f'{" checked" if form.get(field_name(question, o)) else ""}'
            f'{described}><span dir="auto">{e(o.name)}</span></label>'
            for o in question.options)
    elif type_ == 'matrix':
        choices = _scale_labels(question)
        inputs = ''.join(
            f'<fieldset><legend dir="auto">{e(o.name)}</legend>'
            '<div class="scale">'
            + _radios(field_name(question, o), choices,
                form.get(field_name(question, o), ''), described)
            + '</div></fieldset>'
            for o in question.options)
    else:
        inputs = '<div class="scale">' + _radios(
            name, _scale_labels(question), value, described) + '</div>'
        if type_ == 'nps':
            inputs += (f'<p class="help">{e(_("nps_scale"))}</p>')
        elif type_ == 'rating':
            inputs += (f'<p class="help">{e(_("rating_scale"))}</p>')
    return (f'<fieldset class="q choice" id="{name}"><legend>{title}'
        '</legend>' + ''.join(parts) + inputs + '</fieldset>')


def _condition_selector(question):
    """The CSS selector of the form when the condition of the question (and
    those of the questions it depends on) is met by the inputs checked"""
    parts = []
    while question.condition_question:
        condition = question.condition_question
        inputs = ','.join(
            f'input[name="{field_name(condition)}"][value="{o.id}"]'
            if condition.type == 'single'
            else f'input[name="{field_name(condition, o)}"]'
            for o in question.condition_options)
        parts.append(f':has(:is({inputs}):checked)')
        question = condition
    return 'form' + ''.join(parts)


def _survey_page(
        status, action, survey, questions, values, form, problems, lang,
        notice=None):
    e = html.escape
    shown = set(visible_questions(questions, values))
    # The questions asked only after an answer are on the page, hidden by
    # a style until that answer is checked: they appear as soon as it is
    # chosen, without script (the page has none). A browser without :has()
    # shows them all, and those whose condition is not met are ignored.
    sections, section = {}, None
    for question in questions:
        if question.type == 'section':
            section = question
            sections[section.id] = []
        elif section:
            sections[section.id].append(question)
    rules = []

    def conditional(question):
        "The selectors showing the question or None if always shown"
        if question.type == 'section':
            selectors = [conditional(q) for q in sections[question.id]]
            if not selectors or None in selectors:
                return None
            return sum(selectors, [])
        if question.condition_question:
            return [_condition_selector(question)]

    parts = [_STYLE, _paragraphs(survey.intro)]
    if notice:
        parts.append(f'<p role="status">{e(notice)}</p>')
    if problems:
        parts.append(f'<p class="error" role="alert">{e(_("problems"))}</p>')
    if any(q.required for q in questions):
        parts.append(f'<p class="help">{e(_("required_note"))}</p>')
    parts.append(
        f'<form method="post" action="{e(action)}" '
        'enctype="application/x-www-form-urlencoded" novalidate>')
    for question in questions:
        if question.type == 'section':
            content = f'<h2 dir="auto">{e(question.name)}</h2>'
            if question.help:
                content += _paragraphs(question.help)
        else:
            content = _question(question, form, problems.get(question.id))
        selectors = conditional(question)
        if selectors is None:
            if question.id in shown:
                parts.append(content)
            continue
        wrapper = f'{field_name(question)}-when'
        rules.append(','.join(f'{s} #{wrapper}' for s in selectors))
        parts.append(f'<div class="when" id="{wrapper}">{content}</div>')
    parts.append(
        '<p class="actions">'
        f'<button type="submit" name="action" value="submit">'
        f'{e(_("submit"))}</button>'
        f'<button type="submit" name="action" value="save">'
        f'{e(_("save"))}</button></p></form>')
    if rules:
        parts.insert(0, '<style>@supports selector(:has(a)){.when{'
            'display:none}' + ''.join(
                f'{r}{{display:block}}' for r in rules) + '}</style>')
    response = _page(status, e(survey.name), '\n'.join(parts), lang)
    # The token is in the address: never sent to another site. Not
    # no-referrer: with it Chrome posts the page's own form with "Origin:
    # null", which trytond refuses (403)
    response.headers['Referrer-Policy'] = 'same-origin'
    return response

