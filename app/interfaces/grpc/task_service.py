"""``app.v1.TaskService``: an organization's tasks over gRPC, each method calling what its REST route calls.

The context's own servicer, registered in the server's service list; the requests name
their organization (and task) where REST has them in the path.
"""

from __future__ import annotations

from google.protobuf import empty_pb2

from app.application.tasks.dto import TaskCreate, TaskPatch
from app.application.tasks.use_cases import TaskUseCases
from app.interfaces.grpc.calls import Context, current_principal
from app.interfaces.grpc.masks import masked_fields
from app.interfaces.grpc.messages import (
    OrganizationAddress,
    TaskAddress,
    address_of,
    listing_parameters,
    to_body,
    to_message,
)
from app.interfaces.grpc.v1 import tasks_pb2, tasks_pb2_grpc
from app.interfaces.validation import convert_body


class TaskService(tasks_pb2_grpc.TaskServiceServicer):
    """An organization's tasks; who may do what is the use cases' to say, as for REST."""

    def __init__(self, tasks: TaskUseCases) -> None:
        self._tasks = tasks

    async def CreateTask(self, request: tasks_pb2.CreateTask, context: Context) -> tasks_pb2.Task:
        address = address_of(request, OrganizationAddress)
        body = to_body(request, TaskCreate, exclude=OrganizationAddress.__struct_fields__)
        task = await self._tasks.create(current_principal().user_id, address.organization_id, body)
        return to_message(task, tasks_pb2.Task)

    async def GetTask(self, request: tasks_pb2.GetTask, context: Context) -> tasks_pb2.Task:
        address = address_of(request, TaskAddress)
        task = await self._tasks.get(current_principal().user_id, address.organization_id, address.id)
        return to_message(task, tasks_pb2.Task)

    async def ListTasks(self, request: tasks_pb2.ListTasks, context: Context) -> tasks_pb2.TaskPage:
        address = address_of(request, OrganizationAddress)
        parameters = listing_parameters(request, exclude=OrganizationAddress.__struct_fields__)
        page = await self._tasks.list(current_principal().user_id, address.organization_id, parameters)
        return to_message(page, tasks_pb2.TaskPage)

    async def UpdateTask(self, request: tasks_pb2.UpdateTask, context: Context) -> tasks_pb2.Task:
        address = address_of(request, TaskAddress)
        patch = convert_body(TaskPatch, masked_fields(request, request.update_mask, TaskPatch.__struct_fields__))
        task = await self._tasks.update(current_principal().user_id, address.organization_id, address.id, patch)
        return to_message(task, tasks_pb2.Task)

    async def DeleteTask(self, request: tasks_pb2.DeleteTask, context: Context) -> empty_pb2.Empty:
        address = address_of(request, TaskAddress)
        await self._tasks.delete(current_principal().user_id, address.organization_id, address.id)
        return empty_pb2.Empty()
