/** Full-height layout for both pages (a served file: the pages' policy allows no inline <style>). */
export const EXPLORER_CSS = `html, body { height: 100%; margin: 0; }
#graphiql { height: 100vh; }
#swagger-ui { min-height: 100vh; }
`;
