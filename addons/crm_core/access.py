# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The read access and record rules of the user as SQL conditions

The queries of the suite that read the tables of other models directly (the
timeline, the figures of the 360° view) restrict their rows with
`read_clause` to the records the user may read through the ORM. Function
field getters run without access check: the user's rights apply whatever
the context, only root (user 0: cron, worker, admin scripts) reads all."""
from sql import Literal

from trytond.ir.rule import _get_access_models
from trytond.pool import Pool, PoolMeta
from trytond.transaction import (
    Transaction, check_access, inactive_records, without_check_access)

from .memo import unchanged_memo

_OPERATORS = {'AND', 'OR'}


def _is_leaf(clause):
    return (isinstance(clause, (list, tuple)) and clause
        and isinstance(clause[0], str) and clause[0] not in _OPERATORS)


def _split(domain):
    "Return the operator and the clauses of the domain"
    if domain and isinstance(domain[0], str) and domain[0] in _OPERATORS:
        return domain[0], list(domain[1:])
    return 'AND', list(domain)


def simplify(domain):
    "Return the domain without its always true parts, [] when always true"
    if _is_leaf(domain) or not domain:
        return domain or []
    operator, clauses = _split(domain)
    clauses = [simplify(c) for c in clauses]
    if operator == 'OR':
        if not clauses or any(c == [] for c in clauses):
            # an empty OR of the rules stays as it is
            return [] if clauses else domain
        if len(clauses) == 1:
            return clauses[0]
        return ['OR'] + clauses
    clauses = [c for c in clauses if c != []]
    if not clauses:
        return []
    if len(clauses) == 1:
        return clauses[0]
    return ['AND'] + clauses


def split_company(domain, companies, paths=('company',)):
    """Return the domain without its company clauses that must hold (the
    company rules), appending (path, ids) to companies

    A company clause is (path, 'in', ids) with path 'company', or (field,
    'where', company clauses) when field.company is in paths (the rules a
    model takes from its __access__ field, e.g. the move of a move line)."""
    if _is_leaf(domain):
        if (domain[0] in paths and domain[1] == 'in'
                and domain[0].split('.')[-1] == 'company'
                and isinstance(domain[2], (list, tuple))):
            companies.append(
                (domain[0], [c for c in domain[2] if c is not None]))
            return []
        if (domain[1] == 'where' and len(domain) == 3
                and any(p.startswith(domain[0] + '.') for p in paths)):
            found = []
            rest = split_company(domain[2], found, paths=[
                    p[len(domain[0]) + 1:] for p in paths
                    if p.startswith(domain[0] + '.')])
            if rest == []:
                companies.extend(
                    (domain[0] + '.' + p, ids) for p, ids in found)
                return []
        return domain
    if not domain:
        return []
    operator, clauses = _split(domain)
    if operator == 'OR' and len(clauses) != 1:
        return domain
    return simplify(
        ['AND'] + [split_company(c, companies, paths) for c in clauses])


def read_domain(model):
    """Return the domain of the records of model the user may read: [] for
    all, None when the user may not read the model"""
    pool = Pool()
    ModelAccess = pool.get('ir.model.access')
    Rule = pool.get('ir.rule')
    transaction = Transaction()
    if not transaction.user:
        return []
    # the queries of one read ask for the same models many times
    memo = unchanged_memo('crm_core.read_domain')
    key = (model, transaction.user) + Rule._get_cache_key(
        _get_access_models(pool.get(model))[0])
    if key not in memo:
        with check_access():
            if not ModelAccess.check(model, 'read', raise_exception=False):
                memo[key] = None
            else:
                memo[key] = simplify(Rule.domain_get(model, mode='read'))
    return memo[key]


def read_clause(model, id_column, company_column=None):
    """Return the SQL condition on the rows of a query of model's table that
    keeps the records the user may read, or None when it keeps them all

    id_column is the column of the record id; company_column, when given, is
    the column of its company field, or a dict {path: column} of the columns
    of the company of the record ('company') or of a record it belongs to
    ('move.company'): the company rules on them become conditions on these
    columns instead of sub-queries. Other rules are tested as id_column IN
    (the query of the rule), so a user without rules pays nothing."""
    pool = Pool()
    Model = pool.get(model)
    domain = read_domain(model)
    if domain is None:
        return Literal(False)
    clause = None
    if company_column is not None and not isinstance(company_column, dict):
        company_column = {'company': company_column}
    if company_column and domain:
        companies = []
        domain = split_company(domain, companies, paths=list(company_column))
        for path, ids in companies:
            condition = (company_column[path].in_(ids) if ids
                else Literal(False))
            clause = condition if clause is None else clause & condition
    if domain:
        # as ir.rule.query_get: the rule is evaluated as root
        with Transaction().set_user(0), inactive_records(), \
                without_check_access():
            query = Model.search(domain, order=[], query=True)
        condition = id_column.in_(query)
        clause = condition if clause is None else clause & condition
    return clause


def restrict(query, model, id_column, company_column=None):
    "Add read_clause to the where of the query and return it"
    clause = read_clause(model, id_column, company_column=company_column)
    if clause is not None:
        query.where = clause if query.where is None else query.where & clause
    return query


def check_rules(Model, records, mode):
    """Raise the host's rule error, which names no record, when the user may
    not read the records or apply mode (write, delete) to them"""
    pool = Pool()
    Rule = pool.get('ir.rule')
    ids = list(map(int, records))
    if not ids:
        return
    with check_access():
        Rule.check(Model.__name__, ids, mode='read')
        if mode in {'write', 'delete'}:
            Rule.check(Model.__name__, ids, mode=mode)


class RuleCheckMixin:
    """Check the record rules before any other check of the modification, so
    that no error names a record the user may not read"""
    __slots__ = ()

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        if external and mode in {'write', 'delete'}:
            check_rules(cls, records, mode)
        super().check_modification(
            mode, records, values=values, external=external)


class Opportunity(RuleCheckMixin, metaclass=PoolMeta):
    __name__ = 'sale.opportunity'


class Activity(RuleCheckMixin, metaclass=PoolMeta):
    __name__ = 'crm.activity'
