"""The publisher's HTTP API: accounts and delivery records (OpenAPI at /docs)."""


from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Request, Response
from siar_runtime import audit as audit_log
from siar_runtime.auth import Caller
from siar_runtime.problems import TYPE_BASE, Problem

from . import accounts, store
from .schemas import AccountCreate, AccountList, AccountOut, DeliveryOut

PROBLEM = {"content": {"application/problem+json": {}}}


def router(auth) -> APIRouter:
    api = APIRouter(prefix="/v1", responses={401: PROBLEM, 404: PROBLEM, 422: PROBLEM})
    CallerDep = Annotated[Caller, Depends(auth)]

    def pool(request: Request) -> asyncpg.Pool:
        return request.app.state.db.pool

    Pool = Annotated[asyncpg.Pool, Depends(pool)]

    @api.post("/accounts", status_code=201, response_model=AccountOut, tags=["accounts"],
              summary="Connect a platform account (or reconnect it with new credentials)")
    async def connect(body: AccountCreate, request: Request, response: Response, caller: CallerDep, db: Pool) -> AccountOut:
        if caller.role != "admin":
            raise Problem(403, "Not allowed", "only an admin may connect accounts", type_=TYPE_BASE + "forbidden")
        out, created = await accounts.register(db, request.app.state.client, request.app.state.vault, body,
                                               actor=caller)
        if not created:
            response.status_code = 200
        request.app.state.wake()
        response.headers["Location"] = f"/v1/accounts/{out.account_id}"
        return out

    audit_log.add_route(api, CallerDep, Pool, what="who connected or reconnected which account, when",
                        entities="account")

    @api.get("/accounts", response_model=AccountList, tags=["accounts"], summary="Connected accounts")
    async def list_(caller: CallerDep, db: Pool) -> AccountList:
        async with db.acquire() as conn:
            return AccountList(accounts=[accounts.to_out(r) for r in await store.list_accounts(conn)])

    @api.get("/accounts/{account_id}", response_model=AccountOut, tags=["accounts"], summary="One account")
    async def read(account_id: str, caller: CallerDep, db: Pool) -> AccountOut:
        async with db.acquire() as conn:
            row = await store.get_account(conn, account_id)
        if row is None:
            raise Problem(404, "Not found", f"no account {account_id}", type_=TYPE_BASE + "not-found")
        return accounts.to_out(row)

    @api.get("/deliveries/{target_id}", response_model=DeliveryOut, tags=["deliveries"],
             summary="The delivery record of one target: state, attempts, last error")
    async def delivery(target_id: str, caller: CallerDep, db: Pool) -> DeliveryOut:
        async with db.acquire() as conn:
            row = await store.get_delivery(conn, target_id)
        if row is None:
            raise Problem(404, "Not found", f"no delivery for target {target_id}", type_=TYPE_BASE + "not-found")
        return DeliveryOut(**{k: row[k] for k in DeliveryOut.model_fields})

    return api
