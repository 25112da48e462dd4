declare module "cloudflare:test" {
  interface ProvidedEnv extends Env {
    ORCHESTRATOR_API_KEY: string;
    REGISTRATION_TOKEN: string;
  }
}
