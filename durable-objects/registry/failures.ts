/**
 * The registry's refusals (src/core/registry/refusals.ts) as the problem
 * documents its callers get back: one place for each wording, status and
 * problem type, whichever RPC method refused.
 */
import { type Failure, failure, ProblemType } from "../../src/contracts/problem";
import type { Refusal } from "../../src/core/registry/refusals";
import { MAX_INSTANCES_PER_SERVICE, MAX_SERVICES } from "../../src/core/registry/registration";

export function failureFor(refusal: Refusal): Failure {
  switch (refusal.reason) {
    case "invalid":
      return failure(400, ProblemType.validation, "The request is not valid", refusal.detail, { field: refusal.field });
    case "already-registered":
      return failure(409, ProblemType.conflict, "Already registered", `This ${refusal.kind} is already registered for ${refusal.service}.`, {
        field: refusal.kind,
        existingId: refusal.existingId,
      });
    case "too-many-services":
      return failure(409, ProblemType.conflict, "Too many services", `The registry holds at most ${MAX_SERVICES} services.`, { field: refusal.field });
    case "too-many-instances":
      return failure(409, ProblemType.conflict, "Too many instances", `A service holds at most ${MAX_INSTANCES_PER_SERVICE} instances.`, { field: "service" });
    case "static-instance":
      return failure(409, ProblemType.conflict, "Static instance", "Instances declared in configuration are removed by changing the configuration.", { field: "id" });
    case "unknown-instance":
      return failure(404, ProblemType.unknownInstance, "Unknown instance", `No instance has the id ${refusal.id}; register again.`, { field: "id" });
    case "out-of-token-scope":
      // The instance's service is not named: a token scoped elsewhere has no business knowing it.
      return failure(403, ProblemType.forbidden, "Forbidden", "This registration token is not allowed to act for that instance's service.", { field: "id" });
    case "unknown-service":
      return failure(
        404,
        ProblemType.unknownService,
        "Unknown service",
        `No service is named ${refusal.service}.`,
        refusal.field === null ? { service: refusal.service } : { field: refusal.field },
      );
    case "service-stopped":
      return failure(503, ProblemType.serviceStopped, "Service stopped", `An operator stopped ${refusal.service}.`, { service: refusal.service, retryAfterSeconds: 30 });
    case "retry-budget-exhausted":
      return failure(503, ProblemType.noAvailableInstance, "Retry budget exhausted", `${refusal.service} has too many retries in flight.`, {
        service: refusal.service,
        retryAfterSeconds: 1,
      });
    case "unknown-release":
      return failure(404, ProblemType.notFound, "Unknown release", `${refusal.service} has no release ${refusal.id}.`, { field: "id" });
    case "release-conflict":
      return failure(409, ProblemType.conflict, "Release conflict", refusal.detail, refusal.field === null ? {} : { field: refusal.field });
    case "no-instance-in-rotation":
      return failure(503, ProblemType.noAvailableInstance, "No available instance", `${refusal.service} has no instance in rotation.`, {
        service: refusal.service,
        retryAfterSeconds: 5,
      });
  }
}

