"""``/api/v1/organizations/{org_id}/tasks``: an organization's tasks, for its members.

The membership check is the use cases' own (``enter_organization``): a caller who is not a
member of ``org_id`` gets 404 from every route here, whatever the task.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from app.application.auth.principal import Principal
from app.application.listing import Page
from app.application.tasks.dto import TaskCreate, TaskPatch, TaskRead
from app.application.tasks.listing import TASK_LISTING
from app.application.tasks.use_cases import TaskUseCases
from app.interfaces.http.listing import listing_operation
from app.interfaces.http.openapi import AUTHENTICATED, problems

_NOT_A_MEMBER = "A caller who is not a member of the organization gets 404, as if it did not exist."


class TasksController(Controller):
    path = "/api/v1/organizations/{org_id:uuid}/tasks"
    tags = ["tasks"]
    security = AUTHENTICATED

    @post(
        operation_id="createTask",
        status_code=201,
        responses=problems(400, 401, 404, 413, 422),
        summary="Create a task (any member); the caller is its creator",
        description=f"{_NOT_A_MEMBER} An `assignee_id` must be a member of the organization.",
    )
    async def create(
        self,
        org_id: FromPath[UUID],
        data: JSONBody[TaskCreate],
        principal: NamedDependency[Principal],
        tasks: NamedDependency[TaskUseCases],
    ) -> TaskRead:
        return await tasks.create(principal.user_id, org_id, data)

    @get(
        operation_id="listTasks",
        responses=problems(400, 401, 404, 422),
        summary="List the organization's tasks: filters, ordering, keyset pagination",
        description=f"{_NOT_A_MEMBER}\n\n{TASK_LISTING.help_text()}",
        operation_class=listing_operation(TASK_LISTING),
    )
    async def list_tasks(
        self,
        org_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        tasks: NamedDependency[TaskUseCases],
    ) -> Page[TaskRead]:
        params = request.query_params
        return await tasks.list(principal.user_id, org_id, {name: params.getall(name) for name in params})

    @get(
        "/{task_id:uuid}",
        operation_id="getTask",
        responses=problems(400, 401, 404),
        summary="One task",
        description=f"{_NOT_A_MEMBER} A task of another organization is not found here either.",
    )
    async def read(
        self,
        org_id: FromPath[UUID],
        task_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        tasks: NamedDependency[TaskUseCases],
    ) -> TaskRead:
        return await tasks.get(principal.user_id, org_id, task_id)

    @patch(
        "/{task_id:uuid}",
        operation_id="updateTask",
        responses=problems(400, 401, 403, 404, 413, 422),
        summary="Change a task (its creator, its assignee, or an admin); absent fields stay as they are",
        description=f"{_NOT_A_MEMBER} Other members get 403.",
    )
    async def update(
        self,
        org_id: FromPath[UUID],
        task_id: FromPath[UUID],
        data: JSONBody[TaskPatch],
        principal: NamedDependency[Principal],
        tasks: NamedDependency[TaskUseCases],
    ) -> TaskRead:
        return await tasks.update(principal.user_id, org_id, task_id, data)

    @delete(
        "/{task_id:uuid}",
        operation_id="deleteTask",
        status_code=204,
        responses=problems(400, 401, 403, 404),
        summary="Soft-delete a task (its creator, or an admin)",
        description=f"{_NOT_A_MEMBER} Other members get 403.",
    )
    async def remove(
        self,
        org_id: FromPath[UUID],
        task_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        tasks: NamedDependency[TaskUseCases],
    ) -> None:
        await tasks.delete(principal.user_id, org_id, task_id)
