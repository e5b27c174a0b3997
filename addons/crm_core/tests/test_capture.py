# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Hostile values and broken bodies on the lead capture (test_module loads
these test cases)"""
import io
from email.message import EmailMessage
from urllib.parse import urlencode

from trytond.modules.company.tests import create_company, create_employee
from trytond.modules.crm_core.lead_capture import (
    UNSAFE_CHARACTERS, normalize_email, strip_unsafe, valid_utm_name)
from trytond.modules.crm_core.routes import BodyError, read_body
from trytond.pool import Pool
from trytond.protocols.wrappers import HTTPStatus
from trytond.tests.test_tryton import RouteTestCase, with_transaction
from trytond.tools.email_ import normalize_email as host_normalize_email
from trytond.transaction import Transaction


class CrmCoreCaptureTestCase(RouteTestCase):
    "Test the lead capture against hostile values and broken bodies"
    module = 'crm_core'
    extras = ['inbound_email', 'marketing_campaign']

    @classmethod
    def setUpDatabase(cls):
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        Source = pool.get('marketing.source')
        company = create_company()
        employee = create_employee(company, "Eve Staff")
        ContactMechanism.create([
                {'party': company.party.id, 'type': 'email',
                    'value': 'info@company.example'},
                {'party': employee.party.id, 'type': 'email',
                    'value': 'eve@company.example'},
                ])
        Source.create([{'name': 'newsletter'}])
        Transaction().commit()

    def staff(self):
        "Return the company and the employee"
        pool = Pool()
        Company = pool.get('company.company')
        Employee = pool.get('company.employee')
        company, = Company.search([])
        employee, = Employee.search([])
        return company, employee

    def test_unsafe_characters_set(self):
        "The C0 and C1 controls and the bidi overrides are unsafe"
        for character in ['\x00', '\x0b', '\x1f', '\x7f', '\x80', '\x85',
                '\x9f', '\u202a', '\u202e', '\u2066', '\u2069']:
            self.assertIn(character, UNSAFE_CHARACTERS)
        for character in ['\t', '\n', '\r', ' ', 'é', '\xa0', '\u200f',
                '\u2070']:
            self.assertNotIn(character, UNSAFE_CHARACTERS)
        self.assertEqual(
            strip_unsafe("Ann\u202e\x85 Lee\n\x00"), "Ann Lee\n")

    def test_normalize_email(self):
        "The e-mail normalisation is the host's, of the stripped value"
        for value in [' Ann@Example.COM ', 'bob@example.org', '']:
            self.assertEqual(
                normalize_email(value),
                host_normalize_email(value.strip()) if value.strip() else '')
        self.assertEqual(normalize_email(None), '')

    def test_valid_utm_name(self):
        "A new UTM value has a bounded, plain name"
        for value in ['google', 'spring-sale 2026', 'cpc.display', 'été']:
            self.assertTrue(valid_utm_name(value), value)
        for value in ['', '=hyperlink("http://evil","x")', '+1', '-x',
                '@cmd', 'a' * 65, 'a\x85', 'tab\there', 'a;b', '_x']:
            self.assertFalse(valid_utm_name(value), value)

    def test_read_body(self):
        "The body is read whole or refused"
        def environ(data, length=None, chunked=False):
            environ = {'wsgi.input': io.BytesIO(data)}
            if chunked:
                # As a server gives a dechunked body
                environ['HTTP_TRANSFER_ENCODING'] = 'chunked'
                environ['wsgi.input_terminated'] = True
            else:
                environ['CONTENT_LENGTH'] = str(
                    len(data) if length is None else length)
            return environ

        env = environ(b'name=Ann')
        self.assertEqual(read_body(env, timeout=5), b'name=Ann')
        self.assertEqual(env['wsgi.input'].read(), b'name=Ann')
        self.assertEqual(
            read_body(environ(b'name=Ann', chunked=True), timeout=5),
            b'name=Ann')
        self.assertEqual(read_body({'wsgi.input': io.BytesIO()}), b'')
        for env, status in [
                (environ(b'name=Ann', length=100), HTTPStatus.BAD_REQUEST),
                (environ(b'x' * 20000, chunked=True),
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
                (environ(b'x' * 20000), HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
                (environ(b'x', length='1e3'), HTTPStatus.BAD_REQUEST),
                (environ(b'x', length='١'), HTTPStatus.BAD_REQUEST),
                ]:
            with self.subTest(env=env):
                with self.assertRaises(BodyError) as cm:
                    read_body(env, timeout=5)
                self.assertEqual(cm.exception.status, status)

    @with_transaction()
    def test_capture_party_not_company_nor_employee(self):
        "A stranger never gets the party of the company or of an employee"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company, employee = self.staff()

        for email in ['INFO@company.example', 'eve@Company.example']:
            party = Opportunity.capture_party(
                "Mallory", email, '+32 2 555 01 02')
            self.assertNotIn(party, [company.party, employee.party])
            self.assertEqual(party.name, "Mallory")
            self.assertEqual(
                sorted((m.type, m.value.lower())
                    for m in party.contact_mechanisms),
                [('email', email.lower()), ('phone', '+32 2 555 01 02')])

    @with_transaction()
    def test_capture_party_refused_phone(self):
        "A phone the party module refuses is left out of the new party"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        party = Opportunity.capture_party(
            "Ann", 'ann@example.com', '+1 (555) <b>1</b>')
        self.assertEqual(
            [m.type for m in party.contact_mechanisms], ['email'])

    @with_transaction()
    def test_inbound_email_unsafe(self):
        "The controls and bidi overrides of an e-mail are removed"
        pool = Pool()
        Inbox = pool.get('inbound.email.inbox')
        Email = pool.get('inbound.email')
        message = EmailMessage()
        message['From'] = "Ann\u202e Lee <ann@example.com>"
        message['Subject'] = "Quote\x9b \u2066please\u2069"
        message.set_content("Hello\x9b there\u202d\n")
        inbox = Inbox(name="Sales", rules=[{
                    'action': 'sale.opportunity|create_from_inbound_email',
                    }])
        inbox.save()
        email = Email(inbox=inbox, data=message.as_bytes(), data_type='raw')
        email.save()
        Email.process([email])
        lead = email.result
        self.assertEqual(lead.party.name, "Ann Lee")
        self.assertEqual(lead.description, "E-mail: Quote please")
        self.assertEqual(lead.comment, "Hello there")


    @property
    def url(self):
        return f'/{self.db_name}/crm/lead'

    def post(self, data, address, url=None, **kwargs):
        if isinstance(data, dict):
            data = urlencode(data)
        kwargs.setdefault(
            'content_type', 'application/x-www-form-urlencoded')
        return self.client().post(
            url or self.url, data=data,
            environ_base={'REMOTE_ADDR': address}, **kwargs)

    def leads(self, address):
        @with_transaction()
        def leads():
            Opportunity = Pool().get('sale.opportunity')
            return [{
                    'party': o.party.name,
                    'party_id': o.party.id,
                    'comment': o.comment,
                    'mechanisms': sorted(
                        (m.type, m.value) for m in o.party.contact_mechanisms),
                    'source': o.marketing_source and o.marketing_source.name,
                    'medium': o.marketing_medium and o.marketing_medium.name,
                    } for o in Opportunity.search([
                            ('capture_address', '=', address)])]
        return leads()

    def set_utm_create(self, value):
        @with_transaction()
        def set_():
            Configuration = Pool().get('crm.configuration')
            config = Configuration(1)
            config.web_form_utm_create = value
            config.save()
            Transaction().commit()
        set_()

    def sources(self):
        @with_transaction()
        def sources():
            Source = Pool().get('marketing.source')
            return sorted(s.name for s in Source.search([]))
        return sources()

    def test_refused_phone(self):
        "A phone the party module refuses: the lead without it, typed kept"
        response = self.post({
                'name': "Ann", 'email': 'ann@phone.example',
                'phone': '+1 (555) <b>1</b>'}, '198.51.100.101')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        lead, = self.leads('198.51.100.101')
        self.assertEqual(
            lead['mechanisms'], [('email', 'ann@phone.example')])
        self.assertIn("Phone: +1 (555) <b>1</b>", lead['comment'])

    def test_control_in_phone(self):
        "A control character in the phone answers 400 naming the field"
        response = self.post(
            {'name': "Ann", 'phone': 'a\x0bb'}, '198.51.100.102')
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn('The field &quot;Phone&quot; contains characters',
            response.get_data(as_text=True))
        self.assertEqual(self.leads('198.51.100.102'), [])

    def test_company_not_ascii_digits(self):
        "A company that is not ASCII digits answers 404"
        for company in ['²', '١', '1 ', '+1', '0x1', '9' * 10]:
            with self.subTest(company=company):
                response = self.post({'name': "Ann"}, '198.51.100.103',
                    url=self.url + '?' + urlencode({'company': company}))
                self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
                response = self.client().get(
                    self.url + '?' + urlencode({'company': company}))
                self.assertEqual(response.status_code, HTTPStatus.NOT_FOUND)
        self.assertEqual(self.leads('198.51.100.103'), [])

    def test_post_unsafe_characters(self):
        "C1 controls and bidi overrides answer 400 naming the field"
        for field, label, value in [
                ('name', 'Name', "Ann\x85Lee"),
                ('name', 'Name', "Ann \u202eeeL"),
                ('company', 'Company', "Lee\u2066 Co"),
                ('message', 'Message', "Hello\x9b"),
                ('utm_source', 'Source', "news\u202dletter"),
                ('utm_campaign', 'Campaign', "spring\x80"),
                ]:
            with self.subTest(field=field, value=value):
                form = {'name': "Ann", field: value}
                response = self.post(form, '198.51.100.104')
                self.assertEqual(
                    response.status_code, HTTPStatus.BAD_REQUEST)
                self.assertIn(
                    f'The field &quot;{label}&quot; contains characters',
                    response.get_data(as_text=True))
        self.assertEqual(self.leads('198.51.100.104'), [])

    def test_utm_existing_only(self):
        "UTM values match existing records only by default"
        before = self.sources()
        response = self.post({
                'name': "Ann", 'utm_source': 'NewsLetter',
                'utm_medium': '=hyperlink("http://evil","x")'},
            '198.51.100.105')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        response = self.post(
            {'name': "Bob", 'utm_source': 'brand-new'}, '198.51.100.105')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        leads = self.leads('198.51.100.105')
        self.assertEqual(
            sorted((l['source'] or '', l['medium']) for l in leads),
            [('', None), ('newsletter', None)])
        self.assertEqual(self.sources(), before)

    def test_utm_create_validated(self):
        "When allowed, only bounded, plain UTM names are created"
        self.set_utm_create(True)
        self.addCleanup(self.set_utm_create, False)
        for value in ['=hyperlink("http://evil","x")', '+cmd', '@x',
                '-1', 'x' * 65]:
            response = self.post(
                {'name': "Ann", 'utm_source': value}, '198.51.100.106')
            self.assertEqual(response.status_code, HTTPStatus.OK)
        self.assertNotIn('=hyperlink("http://evil","x")', self.sources())
        self.assertEqual(
            [l['source'] for l in self.leads('198.51.100.106')],
            [None] * 5)
        response = self.post(
            {'name': "Ann", 'utm_source': 'Spring Fair'}, '198.51.100.107')
        self.assertEqual(response.status_code, HTTPStatus.OK)
        lead, = self.leads('198.51.100.107')
        self.assertEqual(lead['source'], 'spring fair')

    def test_company_email_new_party(self):
        "An e-mail of the company or of an employee gets a new party"
        for email in ['INFO@company.example', 'eve@company.example']:
            response = self.post({
                    'name': "Mallory", 'email': email,
                    'phone': '+32 2 555 01 02', 'company': "Evil Inc"},
                '198.51.100.108')
            self.assertEqual(response.status_code, HTTPStatus.OK)
        leads = self.leads('198.51.100.108')
        self.assertEqual([l['party'] for l in leads], ["Mallory"] * 2)
        self.assertEqual(len({l['party_id'] for l in leads}), 2)

        @with_transaction()
        def staff_parties():
            pool = Pool()
            Company = pool.get('company.company')
            Employee = pool.get('company.employee')
            return {c.party.id for c in Company.search([])} | {
                e.party.id for e in Employee.search([])}
        self.assertFalse(staff_parties() & {l['party_id'] for l in leads})
        for lead in leads:
            self.assertIn("Name: Mallory", lead['comment'])
            self.assertIn("Phone: +32 2 555 01 02", lead['comment'])
            self.assertIn("Company: Evil Inc", lead['comment'])

    def test_short_body(self):
        "A body shorter than its Content-Length answers 400"
        response = self.client().post(
            self.url, input_stream=io.BytesIO(b'name=Short'),
            content_type='application/x-www-form-urlencoded',
            environ_overrides={'CONTENT_LENGTH': '100'},
            environ_base={'REMOTE_ADDR': '198.51.100.109'})
        self.assertEqual(response.status_code, HTTPStatus.BAD_REQUEST)
        self.assertIn('not received whole', response.get_data(as_text=True))
        self.assertEqual(self.leads('198.51.100.109'), [])

    def test_chunked_over_cap(self):
        "A chunked body over 16 kB answers 413"
        response = self.client().post(
            self.url,
            input_stream=io.BytesIO(b'name=Ann&message=' + b'x' * 20000),
            content_type='application/x-www-form-urlencoded',
            headers={'Transfer-Encoding': 'chunked'},
            environ_overrides={'wsgi.input_terminated': True},
            environ_base={'REMOTE_ADDR': '198.51.100.110'})
        self.assertEqual(
            response.status_code, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        self.assertEqual(self.leads('198.51.100.110'), [])

    @with_transaction()
    def test_assignment_turns(self):
        "The turns of a team are distinct, from 0 on, without lock"
        pool = Pool()
        Team = pool.get('crm.team')
        company, _ = self.staff()
        transaction = Transaction()
        with transaction.set_context(company=company.id):
            team, other = Team.create([{'name': "A"}, {'name': "B"}])
        self.assertEqual(Team.take_turns({team: 3, other: 1}), {
                team: [0, 1, 2], other: [0]})
        self.assertEqual(Team.take_turns({team: 2}), {team: [3, 4]})
        self.assertEqual(Team.take_turns({team: 0}), {team: []})
        database = transaction.database
        if database.has_sequence():
            name = Team._turn_sequence_name(team.id)
            self.assertTrue(
                database.sequence_exist(transaction.connection, name))
            Team.delete([team])
            self.assertFalse(
                database.sequence_exist(transaction.connection, name))
        copy, = Team.copy([other])
        self.assertEqual(Team.take_turns({copy: 1}), {copy: [0]})
