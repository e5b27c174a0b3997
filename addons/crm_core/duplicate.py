# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
import re
from collections import defaultdict

from sql.conditionals import Coalesce
from sql.functions import Lower, Trim

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, PYSONEncoder
from trytond.tools import grouped_slice, reduce_ids
from trytond.tools.email_ import normalize_email
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from . import dbtools
from .exceptions import DuplicateWarning, MergeError

try:
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat
except ImportError:
    phonenumbers = None

# The weight of an exact match of contact data in the score
EMAIL_WEIGHT = 0.9
PHONE_WEIGHT = 0.8
PHONE_TYPES = {'phone', 'mobile'}
# A name word shared by more parties is not a blocking key
BLOCK_SIZE = 1000


def email_key(value):
    "The e-mail as compared: normalised, lowercase and trimmed"
    if not value:
        return ''
    return normalize_email(value.strip()).strip().lower()


def phone_key(value, regions=()):
    "The phone number in E.164, trying the regions for a national number"
    if not value or not phonenumbers:
        return (value or '').strip()
    for region in list(regions) + [None]:
        try:
            number = phonenumbers.parse(value, region)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return ''


_word = re.compile(r'\w+', re.UNICODE)


def trigrams(name):
    "The trigrams of name as pg_trgm computes them"
    result = set()
    for word in _word.findall((name or '').lower()):
        word = '  ' + word + ' '
        result.update(word[i:i + 3] for i in range(len(word) - 2))
    return result


def similarity(a, b):
    "The pg_trgm similarity of two trigram sets"
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


class Duplicate(ModelSQL, ModelView):
    """Two parties that look like the same customer."""
    __name__ = 'crm.duplicate'
    __string__ = "CRM Duplicate"

    party_a = fields.Many2One(
        'party.party', "Party A", required=True, readonly=True,
        ondelete='CASCADE', context={'active_test': False})
    party_b = fields.Many2One(
        'party.party', "Party B", required=True, readonly=True,
        ondelete='CASCADE', context={'active_test': False})
    score = fields.Float(
        "Score", digits=(1, 2), readonly=True,
        help="How likely the two parties are the same, from 0 to 1.")
    reasons = fields.Text("Reasons", readonly=True)
    state = fields.Selection([
            ('open', "Open"),
            ('merged', "Merged"),
            ('dismissed', "Dismissed"),
            ], "State", required=True, readonly=True, sort=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('parties_unique', Unique(t, t.party_a, t.party_b),
                'crm_core.msg_duplicate_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.party_b, Index.Range())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state == 'open'),
                })
        cls._order = [
            ('score', 'DESC'),
            ('id', 'ASC'),
            ]
        cls._buttons.update({
                'dismiss': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': Eval('state') != 'dismissed',
                    'depends': ['state'],
                    },
                'merge': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'open'

    def get_rec_name(self, name):
        return '%s / %s' % (self.party_a.rec_name, self.party_b.rec_name)

    @classmethod
    @ModelView.button
    def dismiss(cls, duplicates):
        cls.write(duplicates, {'state': 'dismissed'})

    @classmethod
    @ModelView.button
    def reopen(cls, duplicates):
        cls.write(duplicates, {'state': 'open'})

    @classmethod
    @ModelView.button_action('crm_core.wizard_duplicate_merge')
    def merge(cls, duplicates):
        pass

    @classmethod
    def find_duplicates(cls):
        """Recompute the open candidates

        Idempotent: a pair is stored once; dismissed and merged pairs are
        kept as they are, open pairs no longer found are removed."""
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        ContactMechanism = pool.get('party.contact_mechanism')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()

        threshold = Configuration(1).duplicate_threshold or 0.6
        ContactMechanism.crm_fill_keys()
        found = defaultdict(list)  # (a, b): [(weight, reason)]
        for a, b, kind, key in cls._contact_pairs():
            if kind == 'email':
                found[a, b].append((
                        EMAIL_WEIGHT,
                        gettext('crm_core.msg_duplicate_reason_email',
                            email=key)))
            else:
                found[a, b].append((
                        PHONE_WEIGHT,
                        gettext('crm_core.msg_duplicate_reason_phone',
                            phone=key)))
        for a, b, score in cls._name_pairs(threshold):
            found[a, b].append((
                    score,
                    gettext('crm_core.msg_duplicate_reason_name',
                        similarity='%.2f' % score)))

        candidates = {}
        for pair, matches in found.items():
            remaining = 1.0
            for weight, _ in matches:
                remaining *= 1 - weight
            candidates[pair] = (
                round(1 - remaining, 2),
                '\n'.join(r for _, r in sorted(matches, reverse=True)))

        existing, current = {}, {}
        cursor.execute(*table.select(
                table.id, table.party_a, table.party_b, table.state,
                table.score, table.reasons))
        for id_, a, b, state, score, reasons in cursor:
            existing[a, b] = (id_, state)
            current[id_] = (score, reasons)

        to_delete = [id_ for pair, (id_, state) in existing.items()
            if state == 'open' and pair not in candidates]
        for sub_ids in grouped_slice(to_delete, backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.delete(
                    where=reduce_ids(table.id, sub_ids)))

        to_update = defaultdict(list)
        to_insert = []
        for pair, (score, reasons) in candidates.items():
            if pair in existing:
                id_, state = existing[pair]
                if (state == 'open'
                        and current[id_] != (score, reasons)):
                    to_update[score, reasons].append(id_)
            else:
                to_insert.append(
                    [pair[0], pair[1], score, reasons, 'open'])
        user = transaction.user
        now = dt.datetime.now()
        for (score, reasons), ids in to_update.items():
            for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.update(
                        [table.score, table.reasons,
                            table.write_uid, table.write_date],
                        [score, reasons, user, now],
                        where=reduce_ids(table.id, sub_ids)))
        columns = [table.party_a, table.party_b, table.score, table.reasons,
            table.state, table.create_uid, table.create_date]
        for sub_rows in grouped_slice(to_insert, 1000):
            cursor.execute(*table.insert(columns,
                    [r + [user, now] for r in sub_rows]))
        return len(candidates)

    @classmethod
    def _contact_pairs(cls):
        "Yield (party_a, party_b, kind, key) sharing an e-mail or a phone"
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        Party = pool.get('party.party')
        cursor = Transaction().connection.cursor()
        for kind, types in [('email', ['email']), ('phone', PHONE_TYPES)]:
            cm1 = ContactMechanism.__table__()
            cm2 = ContactMechanism.__table__()
            p1 = Party.__table__()
            p2 = Party.__table__()
            query = (cm1
                .join(cm2, condition=(cm1.crm_key == cm2.crm_key)
                    & (cm1.party < cm2.party))
                .join(p1, condition=cm1.party == p1.id)
                .join(p2, condition=cm2.party == p2.id)
                .select(cm1.party, cm2.party, cm1.crm_key,
                    where=cm1.type.in_(list(types))
                    & cm2.type.in_(list(types))
                    & (cm1.crm_key != '')
                    & cm1.active & cm2.active & p1.active & p2.active,
                    group_by=[cm1.party, cm2.party, cm1.crm_key]))
            cursor.execute(*query)
            for a, b, key in cursor:
                yield a, b, kind, key

    @classmethod
    def _name_pairs(cls, threshold):
        "Yield (party_a, party_b, similarity) of the similar names"
        pool = Pool()
        Party = pool.get('party.party')
        transaction = Transaction()
        database = transaction.database
        cursor = transaction.connection.cursor()
        if (database.name != ':memory:'
                and getattr(database, 'has_extension', None)
                and database.has_extension('pg_trgm')):
            # Blocking: only the names sharing a word are compared, a word
            # shared by more than BLOCK_SIZE parties is too common to tell
            # (the GIN trigram index with the % operator scans the posting
            # lists of the common trigrams for each name: O(n²) in effect)
            cursor.execute(
                'WITH words AS ('
                    'SELECT DISTINCT p.id AS party, w.word '
                    'FROM "%(table)s" AS p, UNNEST(REGEXP_SPLIT_TO_ARRAY('
                        "LOWER(p.name), '\\W+')) AS w(word) "
                    'WHERE p.active AND LENGTH(w.word) > 1), '
                'blocks AS ('
                    'SELECT word FROM words GROUP BY word '
                    'HAVING COUNT(*) BETWEEN 2 AND %(block)s), '
                'pairs AS ('
                    'SELECT DISTINCT a.party AS a, b.party AS b '
                    'FROM words AS a JOIN words AS b '
                    'ON a.word = b.word AND a.party < b.party '
                    'WHERE a.word IN (SELECT word FROM blocks)) '
                'SELECT pairs.a, pairs.b, SIMILARITY(pa.name, pb.name) '
                'FROM pairs '
                'JOIN "%(table)s" AS pa ON pa.id = pairs.a '
                'JOIN "%(table)s" AS pb ON pb.id = pairs.b '
                'WHERE SIMILARITY(pa.name, pb.name) >= %%s' % {
                    'table': Party._table,
                    'block': BLOCK_SIZE,
                    }, (threshold,))
            for a, b, value in cursor:
                yield a, b, round(float(value), 2)
        else:
            yield from cls._name_pairs_python(threshold)

    @classmethod
    def _name_pairs_python(cls, threshold):
        """Similar names without pg_trgm: an inverted index on trigrams
        compares only the names sharing enough of them"""
        pool = Pool()
        Party = pool.get('party.party')
        cursor = Transaction().connection.cursor()
        party = Party.__table__()
        cursor.execute(*party.select(
                party.id, party.name, where=party.active,
                order_by=[party.id]))
        grams = {}
        index = defaultdict(list)
        for id_, name in cursor:
            grams[id_] = trigram_set = trigrams(name)
            for gram in trigram_set:
                index[gram].append(id_)
        for id_, trigram_set in grams.items():
            # Two sets of similarity >= t share at least t * |A| trigrams
            counts = defaultdict(int)
            for gram in trigram_set:
                for other in index[gram]:
                    if other > id_:
                        counts[other] += 1
            minimum = threshold * len(trigram_set)
            for other, count in counts.items():
                if count < minimum:
                    continue
                value = similarity(trigram_set, grams[other])
                if value >= threshold:
                    yield id_, other, round(value, 2)

    @classmethod
    def merge_parties(cls, keep, other):
        """Move every reference of other to keep and deactivate other

        It runs the host's party replace (``party.replace``): the documents
        listed by its ``fields_to_replace`` move; a module adds its own
        fields there to come along. The replace closes the candidates of
        other (close_replaced)."""
        pool = Pool()
        Replace = pool.get('party.replace', type='wizard')
        Session = pool.get('ir.session.wizard')
        cls.check_merge(keep, other)
        session, = Session.create([{}])
        replace = Replace(session.id)
        replace.ask.source = other
        replace.ask.destination = keep
        # The user chose the party to keep: no second question on names
        with Transaction().set_context(_skip_warnings=True):
            replace.transition_replace()
        Session.delete([session])

    @classmethod
    def close_replaced(cls, source, destination):
        """Close the candidates of the source replaced by the destination

        The pairs of the two parties become merged; the other open pairs of
        the source are removed, the next search finds them again on the
        destination. Dismissed pairs stay: they record what the user decided
        of those two parties."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        pair = (
            ((table.party_a == source.id) & (table.party_b == destination.id))
            | ((table.party_a == destination.id)
                & (table.party_b == source.id)))
        with without_check_access():
            cls.write(cls.search([
                        ['OR',
                            [('party_a', '=', source.id),
                                ('party_b', '=', destination.id)],
                            [('party_a', '=', destination.id),
                                ('party_b', '=', source.id)],
                            ],
                        ('state', '!=', 'merged'),
                        ]), {'state': 'merged'})
        cursor.execute(*table.delete(
                where=(table.state == 'open')
                & ((table.party_a == source.id) | (table.party_b == source.id))
                & ~pair))

    @classmethod
    def check_merge(cls, keep, other):
        "Refuse the merges that make no sense"
        pool = Pool()
        Company = pool.get('company.company')
        if keep == other:
            raise MergeError(gettext(
                    'crm_core.msg_merge_same_party', party=keep.rec_name))
        for party in [keep, other]:
            if not party.active:
                raise MergeError(gettext(
                        'crm_core.msg_merge_inactive_party',
                        party=party.rec_name))
        with without_check_access():
            companies = {c.party: c for c in Company.search([
                        ('party', 'in', [keep.id, other.id]),
                        ])}
        if keep in companies and other in companies:
            raise MergeError(gettext(
                    'crm_core.msg_merge_companies',
                    party=keep.rec_name, other=other.rec_name))
        if other in companies:
            raise MergeError(gettext(
                    'crm_core.msg_merge_company_party',
                    party=other.rec_name, other=keep.rec_name))

    @classmethod
    def open_for_parties(cls, parties):
        "Return the open candidates of the parties"
        ids = [p.id for p in parties]
        return cls.search([
                ('state', '=', 'open'),
                ['OR',
                    ('party_a', 'in', ids),
                    ('party_b', 'in', ids),
                    ],
                ])


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # A GIN trigram index on PostgreSQL when pg_trgm is there
        cls._sql_indexes.add(Index(t, (t.name, Index.Similarity())))

    @classmethod
    def __register__(cls, module):
        transaction = Transaction()
        database = transaction.database
        if (transaction.database.name != ':memory:'
                and hasattr(database, 'has_extension')
                and not database.has_extension('pg_trgm')):
            cursor = transaction.connection.cursor()
            cursor.execute('SAVEPOINT crm_pg_trgm')
            try:
                cursor.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
            except Exception:
                # Without the right to create it, the names are compared
                # the slower way
                cursor.execute('ROLLBACK TO SAVEPOINT crm_pg_trgm')
            else:
                cursor.execute('RELEASE SAVEPOINT crm_pg_trgm')
                # Visible to this transaction only until the commit: tell
                # the index translators it is there
                database._extensions[database.name]['pg_trgm'] = True
        super().__register__(module)


class ContactMechanism(metaclass=PoolMeta):
    __name__ = 'party.contact_mechanism'

    crm_key = fields.Char(
        "CRM Key", readonly=True,
        help="The e-mail or phone number as compared to find duplicates.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.crm_key, Index.Equality()), (t.party, Index.Range()),
                where=t.crm_key != ''))
        # The look-alike search of a lead: the ORM compares the key as
        # COALESCE(crm_key, ''), which the partial index above cannot serve
        cls._sql_indexes.add(
            Index(t, (Coalesce(t.crm_key, ''), Index.Equality())))

    def _crm_phone_regions(self):
        "The regions tried for a national number: the party's, the company's"
        pool = Pool()
        Company = pool.get('company.company')
        regions = []
        for address in (self.party.addresses if self.party else []):
            if address.country and address.country.code not in regions:
                regions.append(address.country.code)
        company_id = Transaction().context.get('company')
        if company_id:
            with without_check_access():
                for address in Company(company_id).party.addresses:
                    if (address.country
                            and address.country.code not in regions):
                        regions.append(address.country.code)
        return regions

    def get_crm_key(self):
        if self.type == 'email':
            return email_key(self.value)
        elif self.type in PHONE_TYPES:
            return phone_key(self.value, self._crm_phone_regions())

    @classmethod
    def on_modification(cls, mode, mechanisms, field_names=None):
        super().on_modification(mode, mechanisms, field_names=field_names)
        if mode == 'create' or (mode == 'write'
                and {'value', 'type', 'party'} & set(field_names)):
            cls._set_crm_key(mechanisms)

    @classmethod
    def _set_crm_key(cls, mechanisms):
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        keys = defaultdict(list)
        for mechanism in mechanisms:
            keys[mechanism.get_crm_key()].append(mechanism.id)
        for key, ids in keys.items():
            for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.update(
                        [table.crm_key], [key],
                        where=reduce_ids(table.id, sub_ids)))

    @classmethod
    def crm_fill_keys(cls):
        """Compute the missing keys, of records written in SQL: the e-mails
        and the phones already in E.164 in SQL, the others one by one"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        missing = table.crm_key == None  # noqa: E711
        cursor.execute(*table.update(
                [table.crm_key], [Lower(Trim(table.value))],
                where=missing & (table.type == 'email')))
        filled = cursor.rowcount
        cursor.execute(*table.update(
                [table.crm_key], [table.value_compact],
                where=missing & table.type.in_(list(PHONE_TYPES))
                & table.value_compact.like('+%%')))
        filled += max(cursor.rowcount, 0)
        cursor.execute(*table.select(table.id,
                where=missing & table.type.in_(['email'] + list(PHONE_TYPES))))
        cls._set_crm_key(cls.browse([i for i, in cursor]))
        if filled > 1000:
            # The planner must know the new keys to choose a hash join over
            # a nested loop
            dbtools.analyze(cls)


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    @classmethod
    def on_modification(cls, mode, opportunities, field_names=None):
        super().on_modification(mode, opportunities, field_names=field_names)
        if mode == 'create' or (mode == 'write'
                and {'party', 'contact', 'state'} & set(field_names)):
            cls._check_duplicate_leads(opportunities)

    @classmethod
    def _check_duplicate_leads(cls, opportunities):
        "Warn when a lead looks like an existing party"
        pool = Pool()
        Warning = pool.get('res.user.warning')
        transaction = Transaction()
        if not transaction.user or transaction.context.get('_skip_warnings'):
            # No warning can be raised (a queued task, an import)
            return
        for opportunity in opportunities:
            if opportunity.state != 'lead':
                continue
            others = opportunity.get_look_alike_parties()
            if not others:
                continue
            # Keyed on the parties: a new lead has no id yet
            key = Warning.format('crm_duplicate_lead',
                [opportunity.party or opportunity.contact] + others)
            if Warning.check(key):
                parties = ', '.join('"%s"' % p.rec_name for p in others)
                raise DuplicateWarning(key, gettext(
                        'crm_core.msg_opportunity_duplicate_lead',
                        opportunity=opportunity.rec_name, parties=parties))

    def get_look_alike_parties(self):
        """Return the other parties this lead may be: the open duplicate
        candidates of its party and the parties sharing its contact"""
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        ContactMechanism = pool.get('party.contact_mechanism')
        others = []
        with without_check_access():
            if self.party:
                for duplicate in Duplicate.open_for_parties([self.party]):
                    other = (duplicate.party_b
                        if duplicate.party_a == self.party
                        else duplicate.party_a)
                    if other not in others:
                        others.append(other)
            if self.contact and self.contact.crm_key:
                kinds = (['email'] if self.contact.type == 'email'
                    else list(PHONE_TYPES))
                for mechanism in ContactMechanism.search([
                            ('crm_key', '=', self.contact.crm_key),
                            ('type', 'in', kinds),
                            ('party', '!=', self.contact.party.id),
                            ('party', '!=',
                                self.party.id if self.party else None),
                            ('party.active', '=', True),
                            ], limit=10):
                    if mechanism.party not in others:
                        others.append(mechanism.party)
        return others


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('crm.duplicate|find_duplicates', "Find Duplicate Parties"))


class Find(Wizard):
    "Find Duplicates"
    __name__ = 'crm.duplicate.find'
    start_state = 'find'
    find = StateTransition()
    result = StateView('crm.duplicate.find.result',
        'crm_core.duplicate_find_result_view_form', [
            Button("Close", 'end', 'tryton-close'),
            Button("Review", 'open_', 'tryton-forward', default=True,
                states={
                    'invisible': ~Eval('open', 0),
                    }),
            ])
    open_ = StateAction('crm_core.act_duplicate_form')

    def transition_find(self):
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        # Set-based: 100k parties take seconds (bench/bench_duplicates.py),
        # the daily job runs it in trytond-cron
        with without_check_access():
            before = {d.id for d in Duplicate.search(
                    [('state', '=', 'open')], order=[])}
            found = Duplicate.find_duplicates()
            after = {d.id for d in Duplicate.search(
                    [('state', '=', 'open')], order=[])}
        self.result.found = found
        self.result.new = len(after - before)
        self.result.open = len(after)
        return 'result'

    def default_result(self, fields):
        found = getattr(self.result, 'found', None) or 0
        new = getattr(self.result, 'new', None) or 0
        open_ = getattr(self.result, 'open', None) or 0
        return {
            'found': found,
            'new': new,
            'open': open_,
            'message': gettext(
                'crm_core.msg_duplicate_find_result',
                found=found, new=new, open=open_),
            }

    def do_open_(self, action):
        # A tab of its own, of this search: sao shows an open tab of the
        # same action as it was
        action['pyson_domain'] = PYSONEncoder().encode(
            [('state', '=', 'open')])
        action['pyson_context'] = PYSONEncoder().encode({
                'crm_duplicate_found': dt.datetime.now().isoformat(),
                })
        action['name'] = gettext('crm_core.msg_duplicate_review_name')
        return action, {}

    def end(self):
        return 'reload'


class FindResult(ModelView):
    __name__ = 'crm.duplicate.find.result'
    __string__ = "Find Duplicates"

    message = fields.Text("Result", readonly=True)
    found = fields.Integer(
        "Pairs Found", readonly=True,
        help="The pairs of parties that look alike, the dismissed and "
        "merged ones included.")
    new = fields.Integer(
        "New", readonly=True,
        help="The pairs found for the first time.")
    open = fields.Integer(
        "To Review", readonly=True,
        help="The pairs that are neither merged nor dismissed.")


class Merge(Wizard):
    "Merge Duplicate Parties"
    __name__ = 'crm.duplicate.merge'
    start = StateView('crm.duplicate.merge.start',
        'crm_core.duplicate_merge_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Merge", 'merge', 'tryton-ok', default=True),
            ])
    merge = StateTransition()

    def default_start(self, fields):
        pool = Pool()
        MergeStart = pool.get('crm.duplicate.merge.start')
        duplicate = self.record
        values = {
            'duplicate': duplicate.id,
            'party_a': duplicate.party_a.id,
            'party_b': duplicate.party_b.id,
            'reasons': duplicate.reasons,
            'keep': 'a',
            'with_invoices': MergeStart.with_invoices_(),
            }
        for side, party in [
                ('a', duplicate.party_a), ('b', duplicate.party_b)]:
            for name, value in MergeStart.party_values(party).items():
                values[f'{side}_{name}'] = value
        return values

    def transition_merge(self):
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        duplicate = self.record
        if self.start.keep == 'b':
            keep, other = duplicate.party_b, duplicate.party_a
        else:
            keep, other = duplicate.party_a, duplicate.party_b
        Duplicate.merge_parties(keep, other)
        Duplicate.write([duplicate], {'state': 'merged'})
        return 'end'

    def end(self):
        return 'reload'


class MergeStart(ModelView):
    """The two parties side by side: what each one is and what it has, to
    choose the one to keep"""
    __name__ = 'crm.duplicate.merge.start'
    __string__ = "Merge Duplicate Parties"

    duplicate = fields.Many2One('crm.duplicate', "Duplicate", readonly=True)
    reasons = fields.Text("Why They Look Alike", readonly=True)
    party_a = fields.Many2One('party.party', "Party A", readonly=True)
    party_b = fields.Many2One('party.party', "Party B", readonly=True)
    a_code = fields.Char("Code", readonly=True)
    b_code = fields.Char("Code", readonly=True)
    a_addresses = fields.Text("Addresses", readonly=True)
    b_addresses = fields.Text("Addresses", readonly=True)
    a_contacts = fields.Text("Contacts", readonly=True)
    b_contacts = fields.Text("Contacts", readonly=True)
    a_tax_identifiers = fields.Text("Tax Identifiers", readonly=True)
    b_tax_identifiers = fields.Text("Tax Identifiers", readonly=True)
    a_leads = fields.Integer("Leads and Opportunities", readonly=True)
    b_leads = fields.Integer("Leads and Opportunities", readonly=True)
    a_sales = fields.Integer("Sales", readonly=True)
    b_sales = fields.Integer("Sales", readonly=True)
    a_invoices = fields.Integer("Invoices", readonly=True,
        states={'invisible': ~Eval('with_invoices', False)})
    b_invoices = fields.Integer("Invoices", readonly=True,
        states={'invisible': ~Eval('with_invoices', False)})
    with_invoices = fields.Boolean("With Invoices", readonly=True)
    keep = fields.Selection([
            ('a', "Party A"),
            ('b', "Party B"),
            ], "Keep", required=True, sort=False,
        help="The party that stays; the other one is deactivated and all "
        "its documents move to this one.")

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('//label[@name="a_invoices"]', 'states', {
                    'invisible': ~Eval('with_invoices', False),
                    }),
            ]

    @classmethod
    def with_invoices_(cls):
        "Whether the invoices are counted (account_invoice is activated)"
        try:
            Pool().get('account.invoice')
        except KeyError:
            return False
        return True

    @classmethod
    def _counted(cls):
        "Return [(name, model, party field)] of the documents counted"
        counted = [
            ('leads', 'sale.opportunity', 'party'),
            ('sales', 'sale.sale', 'party'),
            ]
        if cls.with_invoices_():
            counted.append(('invoices', 'account.invoice', 'party'))
        return counted

    @classmethod
    def party_values(cls, party):
        """Return the values shown of the party: what it is and how many
        documents it has, of every company"""
        pool = Pool()
        values = {
            'code': party.code,
            'addresses': '\n\n'.join(
                a.full_address.strip() or a.rec_name
                for a in party.addresses),
            'contacts': '\n'.join(
                f'{m.type_string}: {m.value}'
                for m in party.contact_mechanisms),
            'tax_identifiers': '\n'.join(
                f'{i.type_string}: {i.code}' if i.type else i.code
                for i in party.identifiers),
            }
        with without_check_access(), Transaction().set_context(
                active_test=False, company=None):
            for name, model, field in cls._counted():
                Model = pool.get(model)
                values[name] = Model.search(
                    [(field, '=', party.id)], count=True)
        return values


class PartyReplace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    def transition_replace(self):
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        state = super().transition_replace()
        # crm.duplicate is not in fields_to_replace: a pair names the two
        # parties compared, moving it would pair the destination with itself
        Duplicate.close_replaced(self.ask.source, self.ask.destination)
        return state


class PartyErase(metaclass=PoolMeta):
    __name__ = 'party.erase'

    def to_erase(self, party_id):
        """The e-mails and phones kept to compare the party: the reasons of
        its candidates and the keys of its contact mechanisms"""
        pool = Pool()
        Duplicate = pool.get('crm.duplicate')
        ContactMechanism = pool.get('party.contact_mechanism')
        return super().to_erase(party_id) + [
            (Duplicate, ['OR',
                    ('party_a', '=', party_id),
                    ('party_b', '=', party_id),
                    ], False,
                ['reasons'],
                [None]),
            (ContactMechanism, [('party', '=', party_id)], False,
                ['crm_key'],
                [None]),
            ]
