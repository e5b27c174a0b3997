# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Points earned on posted customer invoices, taken back on credit notes"""
from collections import defaultdict
from decimal import Decimal

from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def _post(cls, invoices):
        super()._post(invoices)
        cls.loyalty_post([i for i in invoices if i.type == 'out'])

    @classmethod
    def paid(cls, invoices):
        super().paid(invoices)
        cls.loyalty_referral([
                i for i in invoices
                if i.type == 'out' and i.total_amount > 0])

    @classmethod
    def loyalty_referral(cls, invoices):
        """The referrers of the customers whose invoice is paid earn their
        program's referral points, once per customer referred"""
        pool = Pool()
        Account = pool.get('crm.loyalty.account')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        Date = pool.get('ir.date')
        if not invoices:
            return
        with without_check_access():
            referred = Account.search([
                    ('party', 'in', list({i.party.id for i in invoices})),
                    ('company', 'in',
                        list({i.company.id for i in invoices})),
                    ('referrer', '!=', None),
                    ('program.referral_points', '!=', None),
                    ])
            if not referred:
                return
            done = {t.origin.id for t in LoyaltyTransaction.search([
                        ('type', '=', 'referral'),
                        ('origin', 'in', [str(a) for a in referred]),
                        ])}
            today = Date.today()
            vlist = []
            for account in referred:
                if account.id in done:
                    continue
                program = account.program
                referrers = Account.enroll(program, [account.referrer]) \
                    if program.auto_enroll else {
                        a.party.id: a for a in Account.search([
                                ('program', '=', program.id),
                                ('party', '=', account.referrer.id),
                                ])}
                referrer = referrers.get(account.referrer.id)
                if not referrer or not referrer.active:
                    continue
                vlist.append({
                        'account': referrer.id,
                        'type': 'referral',
                        'points': program.referral_points,
                        'date': today,
                        'expiry_date': program.expiry_date(today),
                        'origin': str(account),
                        })
            if vlist:
                LoyaltyTransaction.create(vlist)
                Account.evaluate_tiers(
                    Account.browse(list({v['account'] for v in vlist})))

    @classmethod
    def cancel(cls, invoices):
        super().cancel(invoices)
        cls.loyalty_take_back([
                i for i in invoices
                if i.type == 'out' and i.state == 'cancelled'])

    @classmethod
    def loyalty_post(cls, invoices):
        """Earn the points of the invoices, or take back those of credit
        notes, in every program of their company the customer belongs to;
        an invoice counts once per account"""
        pool = Pool()
        Account = pool.get('crm.loyalty.account')
        Program = pool.get('crm.loyalty.program')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        if not invoices:
            return
        with without_check_access():
            programs = Program.search([
                    ('company', 'in', list({i.company.id for i in invoices})),
                    ])
            for program in programs:
                selected = [i for i in invoices if i.company == program.company]
                parties = list({i.party for i in selected})
                if program.auto_enroll:
                    earning = list({
                            i.party for i in selected
                            if i.total_amount > 0})
                    accounts = Account.enroll(program, earning)
                else:
                    accounts = {}
                accounts.update({a.party.id: a for a in Account.search([
                                ('program', '=', program.id),
                                ('party', 'in', [p.id for p in parties]),
                                ])})
                selected = [i for i in selected if i.party.id in accounts]
                done = {(t.account.id, str(t.origin))
                    for t in LoyaltyTransaction.search([
                            ('account', 'in',
                                [a.id for a in accounts.values()]),
                            ('type', 'in', ['earn', 'clawback']),
                            ('origin', 'in', [str(i) for i in selected]),
                            ])}
                earned = cls._loyalty_earned(program, selected)
                multipliers = program.multipliers(
                    [l.product for i in selected for l in i.lines])
                vlist = []
                for invoice in selected:
                    account = accounts[invoice.party.id]
                    if (account.id, str(invoice)) in done:
                        continue
                    vlist.extend(invoice._loyalty_transactions(
                            program, account, earned,
                            multipliers=multipliers))
                if vlist:
                    LoyaltyTransaction.create(vlist)
                    Account.evaluate_tiers(
                        list({accounts[i.party.id] for i in selected}))

    @classmethod
    def _loyalty_earned(cls, program, invoices):
        """The earn transactions of the program for the invoices that the
        lines of the invoices credit, by invoice line id"""
        pool = Pool()
        Line = pool.get('account.invoice.line')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        credited = {}
        for invoice in invoices:
            for line in invoice.lines:
                if isinstance(line.origin, Line) and line.origin.invoice:
                    credited[line.id] = line.origin.invoice
        earnings = {}
        if credited:
            for transaction in LoyaltyTransaction.search([
                        ('account.program', '=', program.id),
                        ('type', '=', 'earn'),
                        ('origin', 'in',
                            list({str(i) for i in credited.values()})),
                        ]):
                earnings[transaction.origin.id] = transaction
        return {line_id: earnings.get(invoice.id)
            for line_id, invoice in credited.items()}

    def _loyalty_transactions(
            self, program, account, earned, multipliers=None):
        """The values of the transactions of the invoice:

        - the lines that credit an invoice that earned take back the same
          share of its points as of its amount, from its award;
        - the others earn (or lose) the program's points per amount, times
          the multiplier of their product and of the customer's tier;
        - a positive invoice under the minimum amount earns nothing."""
        pool = Pool()
        Currency = pool.get('currency.currency')
        Date = pool.get('ir.date')
        date = self.invoice_date or Date.today()
        with Transaction().set_context(date=self.currency_date):
            def convert(amount):
                return Currency.compute(
                    self.currency, amount, program.currency, round=False)
            total = convert(self.untaxed_amount)
            proportional = defaultdict(lambda: [Decimal(0), Decimal(0)])
            base = Decimal(0)
            base_amount = Decimal(0)
            for line in self.lines:
                if line.type != 'line' or not line.amount:
                    continue
                amount = convert(line.amount)
                earning = earned.get(line.id)
                if (amount < 0 and earning and earning.amount
                        and earning.account == account):
                    proportional[earning][0] += (
                        earning.points * amount / earning.amount)
                    proportional[earning][1] += amount
                else:
                    if multipliers is not None:
                        multiplier = multipliers.get(
                            line.product, Decimal(1))
                    else:
                        multiplier = program.multiplier(line.product)
                    base += amount * multiplier
                    base_amount += amount
        vlist = []
        for earning, (points, amount) in proportional.items():
            points = -program.round_points(-points)
            if points:
                vlist.append({
                        'account': account.id,
                        'type': 'clawback',
                        'points': points,
                        'amount': amount.quantize(Decimal('0.01')),
                        'date': date,
                        'award': earning.id,
                        'origin': str(self),
                        'reason': self.number,
                        })
        multiplier = account.tier.multiplier if account.tier else Decimal(1)
        raw = base * program.points_per_amount * multiplier
        if raw > 0:
            if program.minimum_amount and total < program.minimum_amount:
                return vlist
            points = program.round_points(raw)
            type_ = 'earn'
        else:
            points = -program.round_points(-raw)
            type_ = 'clawback'
        if points:
            vlist.append({
                    'account': account.id,
                    'type': type_,
                    'points': points,
                    'amount': base_amount.quantize(Decimal('0.01')),
                    'date': date,
                    'expiry_date': (
                        program.expiry_date(date) if points > 0 else None),
                    'origin': str(self),
                    'reason': self.number,
                    })
        return vlist

    @classmethod
    def loyalty_take_back(cls, invoices):
        """Undo, once, what cancelled invoices earned (a clawback) or took
        back (points earned again)"""
        pool = Pool()
        Account = pool.get('crm.loyalty.account')
        Date = pool.get('ir.date')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        if not invoices:
            return
        with without_check_access():
            net = defaultdict(lambda: [0, Decimal(0), set(), None])
            for transaction in LoyaltyTransaction.search([
                        ('origin', 'in', [str(i) for i in invoices]),
                        ('type', 'in', ['earn', 'clawback']),
                        ]):
                key = (transaction.account, transaction.origin)
                net[key][0] += transaction.points
                net[key][1] += transaction.amount or 0
                net[key][2].add(transaction.type)
                if transaction.type == 'earn':
                    net[key][3] = transaction.id
            vlist = []
            today = Date.today()
            for (account, invoice), (points, amount, types, award) in (
                    net.items()):
                type_ = 'clawback' if points > 0 else 'earn'
                if not points or type_ in types:
                    continue
                vlist.append({
                        'account': account.id,
                        'type': type_,
                        'points': -points,
                        'amount': -amount,
                        'date': today,
                        'expiry_date': (
                            account.program.expiry_date(today)
                            if points < 0 else None),
                        'award': award if points > 0 else None,
                        'origin': str(invoice),
                        })
            if vlist:
                LoyaltyTransaction.create(vlist)
                Account.evaluate_tiers(
                    Account.browse(list({v['account'] for v in vlist})))
