# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.crm_core.exceptions import (
    DuplicateWarning, LostReasonError, MergeError, StageError)
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


def create_opportunity(company, **values):
    "Create a lead of the company"
    pool = Pool()
    Opportunity = pool.get('sale.opportunity')
    Party = pool.get('party.party')
    employee = create_employee(company)
    party = Party(name="Customer")
    party.save()
    opportunity = Opportunity(
        party=party, employee=employee, amount=Decimal('1000'), **values)
    opportunity.save()
    return opportunity


def stage(name):
    "Return the default stage of the module"
    pool = Pool()
    ModelData = pool.get('ir.model.data')
    Stage = pool.get('crm.stage')
    return Stage(ModelData.get_id('crm_core', 'stage_' + name))


def create_party(name, email=None, phone=None, **values):
    "Create a party with an e-mail and a phone"
    pool = Pool()
    Party = pool.get('party.party')
    mechanisms = []
    if email:
        mechanisms.append({'type': 'email', 'value': email})
    if phone:
        mechanisms.append({'type': 'phone', 'value': phone})
    party = Party(name=name, contact_mechanisms=mechanisms, **values)
    party.save()
    return party


class CrmCoreTestCase(CompanyTestMixin, ModuleTestCase):
    "Test CRM Core module"
    module = 'crm_core'
    extras = ['account_invoice', 'stock']

    @with_transaction()
    def test_team_member_unique(self):
        "An employee is a member of a team only once"
        pool = Pool()
        Team = pool.get('crm.team')

        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            team = Team(name="Direct Sales")
            team.members = [{'employee': employee}, {'employee': employee}]
            with self.assertRaisesRegex(UserError, "only once"):
                team.save()

    @with_transaction()
    def test_configuration_defaults(self):
        "The configuration has sensible defaults"
        pool = Pool()
        Configuration = pool.get('crm.configuration')

        config = Configuration(1)
        self.assertEqual(config.duplicate_threshold, 0.6)
        self.assertEqual(config.web_form_rate_limit, 20)


    @with_transaction()
    def test_stage_default(self):
        "A new lead enters the first lead stage with its probability"
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            self.assertEqual(opportunity.state, 'lead')
            self.assertEqual(opportunity.stage, stage('new'))
            self.assertEqual(opportunity.conversion_probability, 0.1)
            history, = opportunity.stage_history
            self.assertEqual(history.from_stage, None)
            self.assertEqual(history.to_stage, stage('new'))
            self.assertEqual(history.duration, None)

    @with_transaction()
    def test_stage_follows_state(self):
        "A host transition moves the stage to the first stage of the state"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.opportunity([opportunity])

            self.assertEqual(opportunity.stage, stage('qualified'))
            self.assertEqual(opportunity.conversion_probability, 0.3)
            self.assertEqual(len(opportunity.stage_history), 2)
            last = opportunity.stage_history[0]
            self.assertEqual(last.from_stage, stage('new'))
            self.assertEqual(last.to_stage, stage('qualified'))
            self.assertGreaterEqual(last.duration, dt.timedelta(0))

    @with_transaction()
    def test_state_follows_stage(self):
        "Moving the stage moves the host workflow"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.write([opportunity], {'stage': stage('qualified').id})
            self.assertEqual(opportunity.state, 'opportunity')
            self.assertEqual(opportunity.conversion_probability, 0.3)

            Opportunity.write([opportunity], {'stage': stage('new').id})
            self.assertEqual(opportunity.state, 'lead')
            self.assertEqual(opportunity.stage, stage('new'))
            self.assertEqual(len(opportunity.stage_history), 3)

    @with_transaction()
    def test_stage_won_refused(self):
        "The won stage is not reachable by hand"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with self.assertRaisesRegex(StageError, "confirms its quotation"):
                Opportunity.write([opportunity], {'stage': stage('won').id})

    @with_transaction()
    def test_stage_unreachable_state(self):
        "A stage whose state the host cannot reach is refused"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            # the host converts only opportunities, not leads
            with self.assertRaisesRegex(StageError, "Proposition"):
                Opportunity.write(
                    [opportunity], {'stage': stage('proposition').id})

    @with_transaction()
    def test_stage_history_readonly(self):
        "The stage history is not changed by hand"
        pool = Pool()
        History = pool.get('crm.stage.history')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with Transaction().set_context(_check_access=True):
                with self.assertRaisesRegex(AccessError, "by the system"):
                    History.write(
                        list(opportunity.stage_history), {'duration': None})
                with self.assertRaisesRegex(AccessError, "by the system"):
                    History.create([{
                                'opportunity': opportunity.id,
                                'date': dt.datetime.now(),
                                }])

    @with_transaction()
    def test_lost_requires_reason(self):
        "Marking lost requires a lost reason"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        LostReason = pool.get('crm.lost_reason')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            with self.assertRaisesRegex(LostReasonError, opportunity.number):
                Opportunity.lost([opportunity])
            with self.assertRaises(LostReasonError):
                Opportunity.write([opportunity], {'stage': stage('lost').id})

            reason, = LostReason.search([('name', '=', "No budget")])
            opportunity.lost_cause = reason
            opportunity.save()
            Opportunity.lost([opportunity])
            self.assertEqual(opportunity.state, 'lost')
            self.assertEqual(opportunity.stage, stage('lost'))
            self.assertEqual(opportunity.conversion_probability, 0)

    @with_transaction()
    def test_cancel_clears_stage(self):
        "Without a stage for the state, the stage is cleared"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            Opportunity.cancel([opportunity])
            self.assertEqual(opportunity.stage, None)
            self.assertEqual(opportunity.stage_history[0].to_stage, None)

            Opportunity.lead([opportunity])
            self.assertEqual(opportunity.stage, stage('new'))

    @with_transaction()
    def test_team_stages(self):
        "A team stage comes before the shared stages of its sequence"
        pool = Pool()
        Stage = pool.get('crm.stage')
        Team = pool.get('crm.team')
        company = create_company()
        with set_company(company):
            team = Team(name="Key Accounts")
            team.save()
            own = Stage(
                name="Discovery", opportunity_state='lead', sequence=1,
                probability=0.05, team=team)
            own.save()

            opportunity = create_opportunity(company, team=team)
            self.assertEqual(opportunity.stage, stage('new'))  # state wins
            self.assertEqual(Stage.get_first('lead', team), own)
            self.assertEqual(Stage.get_first('lead'), stage('new'))

            other = Team(name="Retail")
            other.save()
            opportunity.team = other
            with self.assertRaises(ValidationError):
                opportunity.stage = own
                opportunity.save()

    @with_transaction()
    def test_default_team(self):
        "The default team is the team of the user's employee"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Team = pool.get('crm.team')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            team = Team(name="Direct Sales", members=[{'employee': employee}])
            team.save()
            with Transaction().set_context(employee=employee.id):
                self.assertEqual(Opportunity.default_team(), team.id)
            self.assertEqual(Opportunity.default_team(), None)

    @with_transaction()
    def test_weighted_revenue(self):
        "The weighted revenue is the amount times the probability"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)

            self.assertEqual(opportunity.weighted_revenue, Decimal('100.00'))
            self.assertEqual(Opportunity.search([
                        ('weighted_revenue', '>=', Decimal('100')),
                        ]), [opportunity])
            self.assertEqual(Opportunity.search([
                        ('weighted_revenue', '>', Decimal('100')),
                        ]), [])
            self.assertEqual(Opportunity.search([], order=[
                        ('weighted_revenue', 'DESC')]), [opportunity])

    @with_transaction()
    def test_copy_restarts_pipeline(self):
        "A copy is a new lead with its own history"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            opportunity = create_opportunity(company)
            Opportunity.opportunity([opportunity])

            copy, = Opportunity.copy([opportunity])
            self.assertEqual(copy.state, 'lead')
            self.assertEqual(copy.stage, stage('new'))
            self.assertEqual(len(copy.stage_history), 1)

    def test_duplicate_keys(self):
        "E-mails and phones are compared normalised"
        from trytond.modules.crm_core.duplicate import (
            email_key, phone_key, similarity, trigrams)
        self.assertEqual(
            email_key("  John.Doe@Example.COM "), "john.doe@example.com")
        self.assertEqual(phone_key("+359 2 987 6543"), "+35929876543")
        self.assertEqual(phone_key("02 987 6543", ['BG']), "+35929876543")
        self.assertEqual(phone_key("02 987 6543"), "")
        self.assertEqual(phone_key("not a number", ['BG']), "")
        self.assertEqual(similarity(trigrams("word"), trigrams("word")), 1)
        # pg_trgm: similarity('word', 'two words') = 0.363636
        self.assertAlmostEqual(
            similarity(trigrams("word"), trigrams("two words")),
            4 / 11)

    @with_transaction()
    def test_duplicate_find(self):
        "Duplicates are found by e-mail, phone and name, once per pair"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')

        company = create_company()
        with set_company(company):
            a = create_party("Acme Trading", email="Sales@Acme.example ")
            b = create_party("Zenith Ltd", email="sales@acme.example",
                phone="+359 2 987 6543")
            c = create_party("Globex", phone="+35929876543")
            d = create_party("Acme Tradings")
            create_party("Initech", email="info@initech.example")

            self.assertEqual(Duplicate.find_duplicates(), 3)
            self.assertEqual(Duplicate.find_duplicates(), 3)
            duplicates = Duplicate.search([])
            self.assertEqual(len(duplicates), 3)
            pairs = {(x.party_a, x.party_b): x for x in duplicates}
            self.assertEqual(
                set(pairs), {(a, b), (b, c), (a, d)})
            self.assertIn("same e-mail sales@acme.example", pairs[a, b].reasons)
            self.assertIn("same phone +35929876543", pairs[b, c].reasons)
            self.assertIn("similar names", pairs[a, d].reasons)
            self.assertEqual(duplicates[0].score, pairs[a, b].score)
            self.assertGreaterEqual(pairs[a, b].score, 0.9)

            Duplicate.dismiss([pairs[a, d]])
            Duplicate.find_duplicates()
            self.assertEqual(pairs[a, d].state, 'dismissed')
            self.assertEqual(Duplicate.search([], count=True), 3)

    @with_transaction()
    def test_duplicate_threshold(self):
        "The threshold of the configuration filters the names"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        Configuration = pool.get('crm.configuration')

        create_party("Jonathan Smith")
        create_party("Jonathon Smith")
        self.assertEqual(Duplicate.find_duplicates(), 1)
        configuration = Configuration(1)
        configuration.duplicate_threshold = 0.9
        configuration.save()
        self.assertEqual(Duplicate.find_duplicates(), 0)
        self.assertEqual(Duplicate.search([]), [])

    @with_transaction()
    def test_duplicate_phone_region(self):
        "A national number takes the country of the party or company"
        pool = Pool()
        Country = pool.get('country.country')
        Address = pool.get('party.address')

        bulgaria = Country(name="Bulgaria", code='BG')
        bulgaria.save()
        party = create_party("Acme")
        Address(party=party, country=bulgaria).save()
        mechanism, = create_party(
            "Other", phone="+359 2 987 6543").contact_mechanisms
        self.assertEqual(mechanism.crm_key, '+35929876543')
        party.contact_mechanisms = [{'type': 'phone', 'value': '02 987 6543'}]
        party.save()
        self.assertEqual(party.contact_mechanisms[0].crm_key, '+35929876543')

        company = create_company()
        Address(party=company.party, country=bulgaria).save()
        with set_company(company):
            other = create_party("Other", phone="029876543")
            self.assertEqual(
                other.contact_mechanisms[0].crm_key, '+35929876543')

    @with_transaction()
    def test_duplicate_merge(self):
        "Merging moves the opportunities and deactivates the other party"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        Opportunity = pool.get('sale.opportunity')

        company = create_company()
        with set_company(company):
            a = create_party("Acme Trading", email="sales@acme.example")
            b = create_party("Acme Tradings", email="sales@acme.example")
            c = create_party("Acme Trading.")
            opportunity = Opportunity(party=b, description="Fleet")
            with Transaction().set_context(_skip_warnings=True):
                opportunity.save()
            Duplicate.find_duplicates()
            duplicate, = Duplicate.search([
                    ('party_a', '=', a.id), ('party_b', '=', b.id)])

            Duplicate.merge_parties(a, b)
            Duplicate.write([duplicate], {'state': 'merged'})

            b = b.__class__(b.id)
            self.assertFalse(b.active)
            self.assertEqual(b.replaced_by, a)
            self.assertEqual(
                Opportunity.search([('party', '=', a.id)]), [opportunity])
            # the candidates of b are gone, those of a stay
            self.assertEqual(Duplicate.search([
                        ('state', '=', 'open'),
                        ['OR', ('party_a', '=', b.id),
                            ('party_b', '=', b.id)],
                        ]), [])
            Duplicate.find_duplicates()
            self.assertEqual(duplicate.state, 'merged')
            self.assertEqual(
                [(x.party_a, x.party_b) for x in Duplicate.search(
                        [('state', '=', 'open')])],
                [(a, c)])

    @with_transaction()
    def test_duplicate_merge_refused(self):
        "Bad merges are refused with the parties named"
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        Party = pool.get('party.party')

        company = create_company()
        a = create_party("Acme")
        b = create_party("Acme Ltd")
        with self.assertRaisesRegex(MergeError, '"Acme" with itself'):
            Duplicate.merge_parties(a, a)
        Party.write([b], {'active': False})
        with self.assertRaisesRegex(MergeError, '"Acme Ltd" because it is'):
            Duplicate.merge_parties(a, b)
        with self.assertRaisesRegex(MergeError, 'party of a company'):
            Duplicate.merge_parties(a, company.party)
        other = create_company(name="Other Company")
        with self.assertRaisesRegex(MergeError, 'each is the party'):
            Duplicate.merge_parties(company.party, other.party)
        self.assertTrue(a.active)

    @with_transaction()
    def test_duplicate_lead_warning(self):
        "A lead that looks like an existing party raises a warning"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')

        company = create_company()
        with set_company(company):
            create_party("Acme", email="sales@acme.example")
            lead_party = create_party("ACME Corp", email="Sales@acme.example")
            contact, = lead_party.contact_mechanisms
            lead = Opportunity(party=lead_party, contact=contact)
            with self.assertRaisesRegex(DuplicateWarning, '"Acme"'):
                lead.save()
            with Transaction().set_context(_skip_warnings=True):
                lead = Opportunity(party=lead_party, contact=contact)
                lead.save()

            plain = create_party("Initech")
            Opportunity(party=plain).save()

    @with_transaction()
    def test_tag_color(self):
        "A tag color is a hexadecimal code"
        pool = Pool()
        Tag = pool.get('crm.tag')

        Tag(name="Hot", color='#FF0000').save()
        with self.assertRaisesRegex(ValidationError, "Warm"):
            Tag(name="Warm", color='orange').save()


del ModuleTestCase
