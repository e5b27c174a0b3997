# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The public web channel of the tickets: the form and the status page"""
import hashlib
import io
import re
import secrets
from urllib.parse import quote

from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, set_company
from trytond.modules.crm_core.tests.tools import SMTPSink
from trytond.pool import Pool
from trytond.protocols.wrappers import HTTPStatus
from trytond.tests.test_tryton import RouteTestCase, with_transaction
from trytond.transaction import Transaction

_LINK = re.compile(r'href="([^"]*/crm/ticket/([A-Za-z0-9_-]{43}))"')


class CrmServicePortalTestCase(RouteTestCase):
    "Test the web form of the tickets and their status pages"
    module = 'crm_service'

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        Lang = pool.get('ir.lang')
        User = pool.get('res.user')
        company = create_company()
        admin = User(1)
        admin.email = 'agent.smith@company.example'
        admin.companies = [company]
        admin.company = company
        admin.save()
        Lang.load_translations(Lang.search([('code', '=', 'he')]))
        Transaction().commit()

    @property
    def url(self):
        return f'/{self.db_name}/crm/ticket'

    def post(self, data, address='198.51.100.1', url=None, **kwargs):
        kwargs.setdefault(
            'content_type', 'application/x-www-form-urlencoded')
        return self.client().post(
            url or self.url, data=data,
            environ_base={'REMOTE_ADDR': address}, **kwargs)

    def open_ticket(self, address, subject="Broken lamp", **values):
        "Post the form; return the response and the token of the link"
        data = {
            'name': "Ann Lee", 'email': 'ann@example.com',
            'subject': subject,
            # the same words again would be the same ticket
            'description': f"It flickers.\nThen dies.\n{address}",
            }
        data.update(values)
        response = self.post(data, address)
        found = _LINK.search(response.get_data(as_text=True))
        return response, found.group(2) if found else None

    def tickets(self, address):
        @with_transaction()
        def tickets():
            Ticket = Pool().get('crm.ticket')
            return [{
                    'id': t.id,
                    'number': t.number,
                    'party': t.party.name,
                    'contact': t.contact.value if t.contact else None,
                    'channel': t.channel,
                    'state': t.state,
                    'subject': t.subject,
                    'description': t.description,
                    'hash': t.portal_token_hash,
                    } for t in Ticket.search([
                            ('web_address', '=', address)],
                        order=[('id', 'ASC')])]
        return tickets()

    def transition(self, ticket_id, *transitions):
        @with_transaction()
        def run():
            Ticket = Pool().get('crm.ticket')
            ticket = Ticket(ticket_id)
            with set_company(ticket.company):
                for transition in transitions:
                    getattr(Ticket, transition)([ticket])
            Transaction().commit()
        run()

    def chat(self, ticket_id):
        @with_transaction()
        def chat():
            Message = Pool().get('ir.chat.message')
            return [(m.email or m.user.id, m.content, m.audience)
                for m in Message.search([
                        ('channel.resource', '=', f'crm.ticket,{ticket_id}'),
                        ('audience', '=', 'public'),
                        ], order=[('id', 'ASC')])]
        return chat()

    def test_form(self):
        "GET shows an accessible form for a phone"
        response = self.client().get(self.url)
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertEqual(response.mimetype, 'text/html')
        body = response.get_data(as_text=True)
        self.assertIn('<html lang="en" dir="ltr">', body)
        self.assertIn('name="viewport"', body)
        self.assertIn('<label for="crm-subject">Subject *</label>', body)
        self.assertIn('name="homepage"', body)
        self.assertIn(f'action="{self.url}"', body)

    def test_form_hebrew(self):
        "Hebrew from Accept-Language: right-to-left"
        response = self.client().get(
            self.url, headers={'Accept-Language': 'he-IL,he;q=0.9'})
        self.assertIn(
            '<html lang="he" dir="rtl">', response.get_data(as_text=True))

    def test_post_creates_ticket(self):
        "A good post opens a web ticket, thanks and e-mails the link"
        with SMTPSink() as sink:
            response, token = self.open_ticket('198.51.100.10')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        body = response.get_data(as_text=True)
        self.assertIn('Thank you', body)
        self.assertTrue(token)
        ticket, = self.tickets('198.51.100.10')
        self.assertEqual(ticket['channel'], 'web')
        self.assertEqual(ticket['state'], 'new')
        self.assertEqual(ticket['party'], "Ann Lee")
        self.assertEqual(ticket['contact'], 'ann@example.com')
        self.assertEqual(
            ticket['description'], "It flickers.\nThen dies.\n198.51.100.10")
        self.assertIn(ticket['number'], body)
        # only the hash of the token is stored
        self.assertEqual(
            ticket['hash'], hashlib.sha256(token.encode()).hexdigest())
        (_, recipients, email), = sink.messages
        self.assertEqual(recipients, ['ann@example.com'])
        self.assertIn(ticket['number'], email['Subject'])
        self.assertIn(
            quote(f'/{self.db_name}/crm/ticket/{token}'),
            email.get_body().get_content())

        response = self.client().get(f'{self.url}/{token}')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        # not no-referrer: Chrome would post the page's form with "Origin:
        # null", which trytond refuses
        self.assertEqual(response.headers['Referrer-Policy'], 'same-origin')
        page = response.get_data(as_text=True)
        self.assertIn(ticket['number'], page)
        self.assertIn("Broken lamp", page)
        self.assertIn("New", page)

    def test_same_post_twice(self):
        "The same post again is the same ticket; the link is not shown"
        with SMTPSink() as sink:
            response, token = self.open_ticket('198.51.100.11')
            again, token_again = self.open_ticket('198.51.100.11')
            other, _ = self.open_ticket(
                '198.51.100.11', description="Another problem.")
        self.assertTrue(token)
        self.assertEqual(again.status_code, HTTPStatus.OK)
        self.assertIsNone(token_again)
        self.assertIn('already received', again.get_data(as_text=True))
        self.assertEqual(other.status_code, HTTPStatus.OK)
        self.assertEqual(len(self.tickets('198.51.100.11')), 2)
        self.assertEqual(len(sink.messages), 2)

    def test_honeypot(self):
        "A filled honeypot thanks but opens nothing"
        response = self.post({
                'name': "Bot", 'email': 'bot@example.com', 'subject': "x",
                'description': "x", 'homepage': 'http://spam.example'},
            '198.51.100.12')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertIn('Thank you', response.get_data(as_text=True))
        self.assertEqual(self.tickets('198.51.100.12'), [])

    def test_status_page_public_only(self):
        """The status page shows the public messages only, without an
        address nor an id"""
        with SMTPSink():
            _, token = self.open_ticket('198.51.100.13')
        ticket, = self.tickets('198.51.100.13')

        @with_transaction()
        def post():
            pool = Pool()
            Channel = pool.get('ir.chat.channel')
            Ticket = pool.get('crm.ticket')
            ticket_ = Ticket(ticket['id'])
            with set_company(ticket_.company), SMTPSink():
                Channel.post(ticket_, "Internal: customer is VIP",
                    audience='internal')
                Channel.post(ticket_, "Please <b>restart</b> the lamp.",
                    audience='public')
                Transaction().commit()
        post()
        with SMTPSink():
            _, other = self.open_ticket(
                '198.51.100.13', subject="Other secret subject")

        body = self.client().get(
            f'{self.url}/{token}').get_data(as_text=True)
        self.assertIn('Please &lt;b&gt;restart&lt;/b&gt; the lamp.', body)
        self.assertIn('Helpdesk', body)
        self.assertNotIn('VIP', body)
        self.assertNotIn('agent.smith', body)
        self.assertNotIn('ann@example.com', body)
        self.assertNotIn('Other secret subject', body)
        self.assertNotIn(f'crm.ticket,{ticket["id"]}', body)
        self.assertNotIn('flickers', body)

    def test_answer_brings_back(self):
        """An answer goes to the chat as an e-mail reply: a waiting ticket
        opens again, a resolved one is reopened"""
        with SMTPSink():
            _, token = self.open_ticket('198.51.100.14')
        ticket, = self.tickets('198.51.100.14')
        page = f'{self.url}/{token}'
        self.transition(ticket['id'], 'open', 'wait')

        response = self.post(
            {'action': 'answer', 'message': "It is  the  kitchen lamp."},
            url=page)
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertEqual(response.headers['Location'], page)
        self.assertEqual(self.tickets('198.51.100.14')[0]['state'], 'open')
        self.assertEqual(self.chat(ticket['id']), [
                ('ann@example.com', "It is  the  kitchen lamp.", 'public')])

        self.transition(ticket['id'], 'resolve')
        response = self.post({'action': 'answer', 'message': "Again"},
            url=page)
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertEqual(self.tickets('198.51.100.14')[0]['state'], 'open')

        body = self.client().get(page).get_data(as_text=True)
        self.assertIn("It is  the  kitchen lamp.", body)
        self.assertIn('>You</strong>', body)

        for data, status, problem in [
                ({'action': 'answer', 'message': '  '}, 400, 'empty'),
                ({'action': 'answer', 'message': 'a\u202eb'}, 400,
                    'The field &quot;Your answer&quot; contains characters'),
                ({'action': 'answer', 'message': 'x' * 5001}, 400,
                    'longer than 5,000'),
                ({'action': 'delete'}, 400, 'unknown action'),
                ({'message': 'x'}, 400, 'unknown action'),
                ({'action': 'close'}, 409, 'Only a resolved request'),
                ]:
            with self.subTest(data=str(data)[:40]):
                response = self.post(data, url=page)
                self.assertEqual(response.status_code, status)
                self.assertIn(problem, response.get_data(as_text=True))
        self.assertEqual(len(self.chat(ticket['id'])), 2)

    def test_close(self):
        "The customer confirms a resolved ticket: it closes"
        with SMTPSink():
            _, token = self.open_ticket('198.51.100.15')
        ticket, = self.tickets('198.51.100.15')
        page = f'{self.url}/{token}'
        self.transition(ticket['id'], 'open', 'resolve')
        body = self.client().get(page).get_data(as_text=True)
        self.assertIn('value="close"', body)

        response = self.post({'action': 'close'}, url=page)
        self.assertEqual(response.status_code, HTTPStatus.SEE_OTHER)
        self.assertEqual(self.tickets('198.51.100.15')[0]['state'], 'closed')

        body = self.client().get(page).get_data(as_text=True)
        self.assertIn('This request is closed', body)
        self.assertNotIn('<textarea', body)
        response = self.post({'action': 'answer', 'message': "Hi"}, url=page)
        self.assertEqual(response.status_code, HTTPStatus.CONFLICT)
        self.assertEqual(self.chat(ticket['id']), [])

    def test_unknown_token(self):
        "A wrong or malformed token answers the same readable 404"
        for path in [
                secrets.token_urlsafe(32), 'short', 'x' * 44,
                secrets.token_urlsafe(32)[:42] + '.',
                '%FF%FE' * 10, '%00' * 43, 'a/b', '..%2F..%2Fetc',
                ]:
            with self.subTest(path=path):
                for method in ['get', 'post']:
                    response = getattr(self.client(), method)(
                        f'{self.url}/{path}', data='action=close',
                        content_type='application/x-www-form-urlencoded')
                    self.assertEqual(
                        response.status_code, HTTPStatus.NOT_FOUND)
                    self.assertEqual(response.mimetype, 'text/html')
                    self.assertNotIn(
                        'Traceback', response.get_data(as_text=True))
        response = self.client().get(f'{self.url}/{secrets.token_urlsafe(32)}')
        self.assertIn('This link is not valid', response.get_data(as_text=True))

    def test_bad_requests(self):
        "Bad posts answer 4xx with a readable, escaped page, never 5xx"
        good = ('name=Ann&email=ann%40example.com&subject=Lamp'
            '&description=Broken')
        for data, kwargs, status, problem in [
                ('name=Ann&email=ann%40example.com', {}, 400,
                    'The field &quot;Subject&quot; is required'),
                ('email=ann%40example.com&subject=a&description=b', {}, 400,
                    'name is required'),
                (good.replace('ann%40', '%3Cscript%3E'), {}, 400,
                    'e-mail address'),
                (good + '&phone=%0B1', {}, 400,
                    'The field &quot;Phone&quot; contains characters'),
                (good.replace('Lamp', 'La%C2%85mp'), {}, 400,
                    'The field &quot;Subject&quot; contains characters'),
                (good.replace('Lamp', 'L' * 201), {}, 400, 'longer than 200'),
                (good.replace('Ann', '%FF%FE'), {}, 400, 'not valid UTF-8'),
                (good.replace('Ann', '%E2%80'), {}, 400, 'not valid UTF-8'),
                (good.encode().replace(b'Ann', b'\xff\xfe'), {}, 400,
                    'not valid UTF-8'),
                (good + '&name=Bob', {}, 400, 'repeated'),
                ('&'.join(f'f{i}=x' for i in range(50)), {}, 400,
                    'too many fields'),
                ('{"name": "Ann"}', {'content_type': 'application/json'},
                    400, 'application/x-www-form-urlencoded'),
                (good + '&description=' + 'x' * 20000, {}, 413, 'too large'),
                ]:
            with self.subTest(data=data[:40], **kwargs):
                response = self.post(data, address='198.51.100.16', **kwargs)
                self.assertEqual(response.status_code, status)
                self.assertEqual(response.mimetype, 'text/html')
                body = response.get_data(as_text=True)
                self.assertIn(problem, body)
                self.assertNotIn('<script>', body)
                self.assertNotIn('Traceback', body)
        # percent signs that encode nothing are kept as typed
        response = self.post(
            good.replace('Lamp', '100%zz'), address='198.51.100.16')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        ticket, = self.tickets('198.51.100.16')
        self.assertEqual(ticket['subject'], '100%zz')

    def test_short_and_chunked(self):
        "A short body answers 400, a chunked one over the cap 413"
        for url in [self.url, f'{self.url}/{secrets.token_urlsafe(32)}']:
            response = self.client().post(
                url, input_stream=io.BytesIO(b'name=Short'),
                content_type='application/x-www-form-urlencoded',
                environ_overrides={'CONTENT_LENGTH': '100'},
                environ_base={'REMOTE_ADDR': '198.51.100.17'})
            self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
            self.assertIn(
                'not received whole', response.get_data(as_text=True))
            response = self.client().post(
                url, input_stream=io.BytesIO(b'message=' + b'x' * 20000),
                content_type='application/x-www-form-urlencoded',
                headers={'Transfer-Encoding': 'chunked'},
                environ_overrides={'wsgi.input_terminated': True},
                environ_base={'REMOTE_ADDR': '198.51.100.17'})
            self.assertEqual(
                response.status_code, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        self.assertEqual(self.tickets('198.51.100.17'), [])

    def test_wrong_method(self):
        "Other methods answer 405"
        token = secrets.token_urlsafe(32)
        for url in [self.url, f'{self.url}/{token}']:
            for method in ['put', 'delete', 'patch']:
                with self.subTest(url=url, method=method):
                    response = getattr(self.client(), method)(url)
                    self.assertEqual(
                        response.status_code, HTTPStatus.METHOD_NOT_ALLOWED)

    def test_rate_limit(self):
        "Over the hourly limit of an address the answer is 429"
        @with_transaction()
        def set_limit(limit):
            Configuration = Pool().get('crm.configuration')
            config = Configuration(1)
            config.web_form_rate_limit = limit
            config.save()
            Transaction().commit()
        set_limit(2)
        self.addCleanup(set_limit, 20)
        with SMTPSink():
            for i in range(2):
                response, _ = self.open_ticket(
                    '198.51.100.18', subject=f"Lamp {i}")
                self.assertEqual(response.status_code, HTTPStatus.OK)
            response, _ = self.open_ticket('198.51.100.18', subject="Lamp 3")
        self.assertEqual(response.status_code, HTTPStatus.TOO_MANY_REQUESTS)
        self.assertEqual(len(self.tickets('198.51.100.18')), 2)

    def test_status_page_hebrew(self):
        "The status page in Hebrew is right-to-left"
        with SMTPSink():
            _, token = self.open_ticket('198.51.100.19')
        response = self.client().get(
            f'{self.url}/{token}', headers={'Accept-Language': 'he'})
        self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertIn(
            '<html lang="he" dir="rtl">', response.get_data(as_text=True))

    def test_send_link(self):
        """An agent sends a new link: the previous one stops working; a
        ticket without an e-mail cannot be sent"""
        with SMTPSink():
            _, old = self.open_ticket('198.51.100.20')
        ticket, = self.tickets('198.51.100.20')

        @with_transaction()
        def send(ticket_id):
            Ticket = Pool().get('crm.ticket')
            ticket = Ticket(ticket_id)
            with set_company(ticket.company), SMTPSink() as sink:
                Ticket.portal_send_link([ticket])
                Transaction().commit()
            return sink.messages
        (_, recipients, email), = send(ticket['id'])
        self.assertEqual(recipients, ['ann@example.com'])
        found = re.search(
            r'/crm/ticket/([A-Za-z0-9_-]{43})',
            email.get_body().get_content())
        new = found.group(1)
        self.assertNotEqual(new, old)
        self.assertEqual(
            self.client().get(f'{self.url}/{old}').status_code,
            HTTPStatus.NOT_FOUND)
        self.assertEqual(
            self.client().get(f'{self.url}/{new}').status_code,
            HTTPStatus.OK)

        @with_transaction()
        def send_phone_ticket():
            pool = Pool()
            Company = pool.get('company.company')
            Party = pool.get('party.party')
            Ticket = pool.get('crm.ticket')
            company, = Company.search([])
            with set_company(company):
                party = Party(name="Phone Only")
                party.save()
                ticket = Ticket(subject="Call", party=party)
                ticket.save()
                with self.assertRaisesRegex(AccessError,
                        'To send the status link of ticket ".*Call", give '
                        'it a customer with an e-mail contact.'):
                    Ticket.portal_send_link([ticket])
        send_phone_ticket()


del RouteTestCase
